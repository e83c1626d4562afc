// libFuzzer target: the GetPage@LSN request and response decoders over
// arbitrary payloads. Decoding must not crash or throw; errors are one-line
// kMalformedMessage; whatever decodes must re-encode and decode to the same value.
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/assert.h"
#include "pageserver/getpage_codec.h"

using namespace wq::pageserver;

namespace {
void check_error(const wq::base::Error& e) {
  WQ_ASSERT(e.code == wq::base::ErrorCode::kMalformedMessage, "unexpected code: {}", e.message);
  WQ_ASSERT(e.message.find('\n') == std::string::npos, "multi-line error");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  auto req = decode_request(in);
  if (req) {
    auto again = decode_request(encode_request(*req));
    WQ_ASSERT(again.has_value(), "re-encoded request does not decode");
    WQ_ASSERT(again->page == req->page && again->lsn == req->lsn && again->version == req->version,
              "request round trip differs");
  } else {
    check_error(req.error());
  }
  auto resp = decode_response(in);
  if (resp) {
    auto again = decode_response(encode_response(*resp));
    WQ_ASSERT(again.has_value(), "re-encoded response does not decode");
    WQ_ASSERT(again->page == resp->page && again->lsn == resp->lsn &&
                  again->deltas_replayed == resp->deltas_replayed &&
                  (resp->page || again->error == resp->error),
              "response round trip differs");
  } else {
    check_error(resp.error());
  }
  return 0;
}
