// Page-store key layout: order (page, then LSN), round trip, metadata first.
#include <doctest/doctest.h>

#include "pageserver/keys.h"
#include "wal/format.h"

using namespace wq::pageserver;
using wq::wal::Lsn;

TEST_CASE("version keys sort by page, then LSN, and decode back") {
  PageId a;
  a.tenant[0] = 1;
  a.spc = 1663;
  a.db = 5;
  a.rel = 16384;
  a.blk = 7;
  PageId b = a;
  b.blk = 8;
  CHECK(version_key(KeyKind::kBase, a, Lsn(0x100)) < version_key(KeyKind::kBase, a, Lsn(0x101)));
  CHECK(version_key(KeyKind::kBase, a, Lsn(0xFFFFFFFF)) <
        version_key(KeyKind::kBase, a, Lsn(0x100000000)));
  CHECK(version_key(KeyKind::kBase, a, Lsn(~0ull)) < version_key(KeyKind::kBase, b, Lsn(0)));
  CHECK(version_key(KeyKind::kBase, b, Lsn(~0ull)) < version_key(KeyKind::kDelta, a, Lsn(0)));
  PageId big = a;
  big.blk = 0x01000000;  // big-endian: not below blk 8
  CHECK(version_key(KeyKind::kBase, b, Lsn(1)) < version_key(KeyKind::kBase, big, Lsn(1)));
  CHECK(std::string(kDurableLsnKey) < version_key(KeyKind::kBase, PageId{}, Lsn(0)));
  CHECK(std::string(kHorizonKey) < version_key(KeyKind::kBase, PageId{}, Lsn(0)));

  auto d = decode_version_key(version_key(KeyKind::kDelta, b, Lsn(0x123456789A)));
  REQUIRE(d);
  CHECK(d->kind == KeyKind::kDelta);
  CHECK(d->page == b);
  CHECK(d->lsn == Lsn(0x123456789A));
  CHECK_FALSE(decode_version_key(kDurableLsnKey));
  CHECK(version_key(KeyKind::kBase, a, Lsn(9)).starts_with(page_prefix(KeyKind::kBase, a)));
}

TEST_CASE("versions and ids round-trip; bad values are corrupt") {
  Version v;
  v.kind = Version::kRecord;
  v.block_index = 3;
  v.bytes = {1, 2, 3};
  auto back = decode_version(encode_version(v));
  REQUIRE(back);
  CHECK(back->kind == Version::kRecord);
  CHECK(back->block_index == 3);
  CHECK(back->bytes == v.bytes);
  CHECK(decode_version("").error().code == wq::base::ErrorCode::kCorrupt);
  CHECK(decode_version(std::string("\x07\x00", 2)).error().code == wq::base::ErrorCode::kCorrupt);
  CHECK(decode_version(std::string("\x01\x00\x01", 3)).error().code == wq::base::ErrorCode::kCorrupt);

  auto id = parse_id_hex("00112233445566778899aabbccddeeff");
  REQUIRE(id);
  CHECK(id_hex(*id) == "00112233445566778899aabbccddeeff");
  CHECK_FALSE(parse_id_hex("0011"));
  CHECK_FALSE(parse_id_hex("zz112233445566778899aabbccddeeff"));
  CHECK(decode_lsn_value(encode_lsn_value(Lsn(42))) == Lsn(42));
}

TEST_CASE("images are stored LZ4-compressed when it pays, and decode to the same page") {
  Version v;
  v.kind = Version::kImage;
  v.bytes.assign(wq::wal::kBlockSize, 0);
  for (std::size_t i = 0; i < 400; ++i) v.bytes[7000 + i] = static_cast<std::uint8_t>(i * 7);
  std::string stored = encode_version(v);
  CHECK(static_cast<std::uint8_t>(stored[0]) == Version::kImageLz4);
  CHECK(stored.size() < 2000);
  auto back = decode_version(stored);
  REQUIRE(back);
  CHECK(back->kind == Version::kImage);
  CHECK(back->bytes == v.bytes);

  // Incompressible: stored as it is.
  std::uint32_t x = 12345;
  for (auto& b : v.bytes) {
    x = x * 1103515245u + 12345u;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  stored = encode_version(v);
  CHECK(static_cast<std::uint8_t>(stored[0]) == Version::kImage);
  CHECK(stored.size() == 2 + wq::wal::kBlockSize);
  back = decode_version(stored);
  REQUIRE(back);
  CHECK(back->bytes == v.bytes);

  // A damaged compressed image is corrupt, not a short page.
  v.bytes.assign(wq::wal::kBlockSize, 1);
  stored = encode_version(v);
  REQUIRE(static_cast<std::uint8_t>(stored[0]) == Version::kImageLz4);
  CHECK(decode_version(stored.substr(0, stored.size() - 3)).error().code == wq::base::ErrorCode::kCorrupt);
  stored.push_back('\x00');
  CHECK_FALSE(decode_version(stored));
  CHECK(decode_version(std::string("\x03\x00", 2)).error().code == wq::base::ErrorCode::kCorrupt);
}
