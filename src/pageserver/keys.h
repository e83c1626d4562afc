// LevelDB key and value layout of the pageserver's page store. Every version
// of a page is one key: kind, tenant, timeline, rel, fork, block and the end
// LSN of the record (big-endian, so keys sort by page and then by LSN). Bases
// (images and WILL_INIT records) and deltas live under two kinds, so "the
// newest base <= LSN" is one Seek plus one Prev, and the deltas after it are one
// forward scan. Pure: bytes only, no LevelDB.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "wal/lsn.h"

namespace wq::pageserver {

using Id = std::array<std::uint8_t, 16>;

std::string id_hex(const Id& id);
base::Result<Id> parse_id_hex(std::string_view text);

struct PageId {
  Id tenant{};
  Id timeline{};
  std::uint32_t spc = 0, db = 0, rel = 0;
  std::uint8_t fork = 0;
  std::uint32_t blk = 0;
  auto operator<=>(const PageId&) const = default;
  std::string to_string() const;  // "1663/5/16384 fork 0 blk 7"
};

enum class KeyKind : char { kBase = 'b', kDelta = 'd' };

inline constexpr std::size_t kPagePrefixBytes = 1 + 16 + 16 + 4 + 4 + 4 + 1 + 4;  // 50
inline constexpr std::size_t kVersionKeyBytes = kPagePrefixBytes + 8;               // 58

// kind + page (the prefix every version of that page shares).
std::string page_prefix(KeyKind kind, const PageId& page);
// prefix + big-endian LSN.
std::string version_key(KeyKind kind, const PageId& page, wal::Lsn lsn);

struct DecodedKey {
  KeyKind kind;
  PageId page;
  wal::Lsn lsn;
};
// nullopt for keys that are not version keys (metadata).
std::optional<DecodedKey> decode_version_key(std::string_view key);

// Metadata keys sort before every version key ('b' and 'd' are after 'M').
inline constexpr std::string_view kDurableLsnKey = "M/durable_lsn";
inline constexpr std::string_view kHorizonKey = "M/retention_horizon";
std::string encode_lsn_value(wal::Lsn lsn);
std::optional<wal::Lsn> decode_lsn_value(std::string_view value);

// What one key stores.
//  kImage: the 8192-byte page as of the key's LSN (pd_lsn already stamped).
//  kRecord: the WAL record's bytes and which block reference is this page's;
//   a base when the block is WILL_INIT (redo starts from a zeroed page).
// On disk the first byte is the kind, the second the block index, then the
// bytes; an image is stored LZ4-compressed (kind byte kImageLz4) when that
// saves at least 1/16 of the page, and decodes back to a kImage either way.
struct Version {
  enum Kind : std::uint8_t { kImage = 1, kRecord = 2 };
  static constexpr std::uint8_t kImageLz4 = 3;  // stored kind only, never in a decoded Version
  Kind kind = kImage;
  std::uint8_t block_index = 0;      // kRecord: index into DecodedRecord::blocks
  std::vector<std::uint8_t> bytes;   // page or record
};
std::string encode_version(const Version& v);
// Malformed values are kCorrupt (a store we wrote cannot hold them: the caller dies or reports).
base::Result<Version> decode_version(std::string_view value);

}  // namespace wq::pageserver
