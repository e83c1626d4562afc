// Key and value layout of the page store. See keys.h.
#include "pageserver/keys.h"

#include <cstring>

#include <fmt/format.h>
#include <lz4.h>

#include "wal/format.h"

namespace wq::pageserver {

namespace {

void put_be32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_be64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get_be(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string id_hex(const Id& id) {
  std::string out;
  for (std::uint8_t b : id) out += fmt::format("{:02x}", b);
  return out;
}

base::Result<Id> parse_id_hex(std::string_view text) {
  Id id{};
  if (text.size() != 32) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("id '{}': expected 32 hex digits", text)};
  }
  for (std::size_t i = 0; i < 16; ++i) {
    int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return base::Unexpected{base::ErrorCode::kInvalidArgument,
                              fmt::format("id '{}': expected 32 hex digits", text)};
    }
    id[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return id;
}

std::string PageId::to_string() const {
  return fmt::format("{}/{}/{} fork {} blk {}", spc, db, rel, fork, blk);
}

std::string page_prefix(KeyKind kind, const PageId& page) {
  std::string out;
  out.reserve(kVersionKeyBytes);
  out.push_back(static_cast<char>(kind));
  out.append(reinterpret_cast<const char*>(page.tenant.data()), 16);
  out.append(reinterpret_cast<const char*>(page.timeline.data()), 16);
  put_be32(out, page.spc);
  put_be32(out, page.db);
  put_be32(out, page.rel);
  out.push_back(static_cast<char>(page.fork));
  put_be32(out, page.blk);
  WQ_ASSERT(out.size() == kPagePrefixBytes, "prefix of {} bytes", out.size());
  return out;
}

std::string version_key(KeyKind kind, const PageId& page, wal::Lsn lsn) {
  std::string out = page_prefix(kind, page);
  put_be64(out, lsn.value());
  return out;
}

std::optional<DecodedKey> decode_version_key(std::string_view key) {
  if (key.size() != kVersionKeyBytes) return std::nullopt;
  if (key[0] != static_cast<char>(KeyKind::kBase) && key[0] != static_cast<char>(KeyKind::kDelta)) {
    return std::nullopt;
  }
  DecodedKey d;
  d.kind = static_cast<KeyKind>(key[0]);
  const char* p = key.data() + 1;
  std::memcpy(d.page.tenant.data(), p, 16);
  std::memcpy(d.page.timeline.data(), p + 16, 16);
  p += 32;
  d.page.spc = static_cast<std::uint32_t>(get_be(p, 4));
  d.page.db = static_cast<std::uint32_t>(get_be(p + 4, 4));
  d.page.rel = static_cast<std::uint32_t>(get_be(p + 8, 4));
  d.page.fork = static_cast<std::uint8_t>(p[12]);
  d.page.blk = static_cast<std::uint32_t>(get_be(p + 13, 4));
  d.lsn = wal::Lsn(get_be(p + 17, 8));
  return d;
}

std::string encode_lsn_value(wal::Lsn lsn) {
  std::string out;
  put_be64(out, lsn.value());
  return out;
}

std::optional<wal::Lsn> decode_lsn_value(std::string_view value) {
  if (value.size() != 8) return std::nullopt;
  return wal::Lsn(get_be(value.data(), 8));
}

std::string encode_version(const Version& v) {
  std::string out;
  if (v.kind == Version::kImage && v.bytes.size() == wal::kBlockSize) {
    // Images are most of the store's bytes (a page per threshold deltas with
    // pushdown, or per FPI): LZ4 them when it pays. Ingest pays ~10 us per page.
    constexpr int kBound = LZ4_COMPRESSBOUND(wal::kBlockSize);
    out.resize(2 + kBound);
    int n = LZ4_compress_default(reinterpret_cast<const char*>(v.bytes.data()), out.data() + 2,
                                 static_cast<int>(wal::kBlockSize), kBound);
    if (n > 0 && static_cast<std::size_t>(n) <= wal::kBlockSize - wal::kBlockSize / 16) {
      out[0] = static_cast<char>(Version::kImageLz4);
      out[1] = 0;
      out.resize(2 + static_cast<std::size_t>(n));
      return out;
    }
    out.clear();
  }
  out.reserve(2 + v.bytes.size());
  out.push_back(static_cast<char>(v.kind));
  out.push_back(static_cast<char>(v.block_index));
  out.append(reinterpret_cast<const char*>(v.bytes.data()), v.bytes.size());
  return out;
}

base::Result<Version> decode_version(std::string_view value) {
  if (value.size() < 2) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("page version of {} bytes: expected at least 2", value.size())};
  }
  Version v;
  auto kind = static_cast<std::uint8_t>(value[0]);
  if (kind == Version::kImageLz4) {
    v.kind = Version::kImage;
    v.bytes.resize(wal::kBlockSize);
    int n = LZ4_decompress_safe(value.data() + 2, reinterpret_cast<char*>(v.bytes.data()),
                                static_cast<int>(value.size() - 2), static_cast<int>(wal::kBlockSize));
    if (n != static_cast<int>(wal::kBlockSize)) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("lz4 page image of {} bytes gave {} bytes, expected {}",
                                          value.size() - 2, n, wal::kBlockSize)};
    }
    return v;
  }
  if (kind != Version::kImage && kind != Version::kRecord) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("page version kind {}: expected 1, 2 or 3", kind)};
  }
  v.kind = static_cast<Version::Kind>(kind);
  v.block_index = static_cast<std::uint8_t>(value[1]);
  v.bytes.assign(reinterpret_cast<const std::uint8_t*>(value.data()) + 2,
                 reinterpret_cast<const std::uint8_t*>(value.data()) + value.size());
  if (v.kind == Version::kImage && v.bytes.size() != wal::kBlockSize) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("page image of {} bytes: expected {}", v.bytes.size(),
                                        wal::kBlockSize)};
  }
  return v;
}

}  // namespace wq::pageserver
