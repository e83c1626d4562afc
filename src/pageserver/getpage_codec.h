// GetPage@LSN messages (schemas/pageserver.capnp) as plain structs, and their
// Cap'n Proto encoding: one message per frame payload (codec/frame.h). The only
// pageserver file that includes Cap'n Proto; kj exceptions never leave it.
// Decoding is for untrusted bytes: never throws, never crashes; failures are
// kMalformedMessage naming what was wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "pageserver/keys.h"
#include "wal/record.h"

namespace wq::pageserver {

inline constexpr std::uint32_t kGetPageVersion = 1;

struct GetPageRequest {
  PageId page;
  std::uint64_t lsn = 0;
  std::uint32_t version = kGetPageVersion;
};

struct GetPageResponse {
  std::optional<wal::Page> page;  // set on success
  std::string error;              // one line, when page is not set
  std::uint64_t lsn = 0;
  std::uint32_t deltas_replayed = 0;
};

std::vector<std::uint8_t> encode_request(const GetPageRequest& request);
std::vector<std::uint8_t> encode_response(const GetPageResponse& response);
// Rejects: not a whole number of words, trailing bytes, ids that are not 16
// bytes, a fork above 3, a version other than kGetPageVersion.
base::Result<GetPageRequest> decode_request(std::span<const std::uint8_t> payload);
// Rejects a page that is not 8192 bytes.
base::Result<GetPageResponse> decode_response(std::span<const std::uint8_t> payload);

}  // namespace wq::pageserver
