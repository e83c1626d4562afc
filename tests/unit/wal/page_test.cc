// Page headers: the observed bytes of a segment's first page, round trips, and
// every check of XLogReaderValidatePageHeader with PG's wording.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "wal/page.h"
#include "wal/record.h"

using namespace wq::wal;

namespace {

std::vector<std::uint8_t> hex(const std::string& s) {
  std::vector<std::uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else continue;
    if (hi < 0) { hi = v; } else { out.push_back(static_cast<std::uint8_t>(hi * 16 + v)); hi = -1; }
  }
  return out;
}

std::vector<std::uint8_t> encoded(const PageHeader& h) {
  std::vector<std::uint8_t> b(h.size());
  encode_page_header(h, b.data());
  return b;
}

PageHeader long_header(Lsn addr) {
  PageHeader h;
  h.info = XLP_LONG_HEADER | XLP_BKP_REMOVABLE;
  h.tli = 1;
  h.pageaddr = addr;
  h.is_long = true;
  h.sysid = 0x6B05724DA4DC9A71ull;
  h.seg_size = 16 << 20;
  return h;
}

}  // namespace

TEST_CASE("observed first page of segment 2 decodes") {
  auto b = hex("10d1 0600 01000000 0000000200000000 00000000 00000000 719adca44d72056b 00000001 00200000");
  REQUIRE(b.size() == 40);
  auto h = decode_page_header(b, Lsn(0x2000000), kDefaultSegmentSize);
  REQUIRE(h);
  CHECK(h->magic == 0xD110);
  CHECK(h->info == 0x0006);
  CHECK(h->tli == 1);
  CHECK(h->pageaddr == Lsn(0x2000000));
  CHECK(h->rem_len == 0);
  CHECK(h->is_long);
  CHECK(h->sysid == 0x6B05724DA4DC9A71ull);
  CHECK(h->seg_size == 16u << 20);
  CHECK(h->blcksz == 8192);
  CHECK(h->size() == 40);
  CHECK(encoded(*h) == b);
}

TEST_CASE("short header round trip with continuation") {
  PageHeader h;
  h.info = XLP_FIRST_IS_CONTRECORD | XLP_BKP_REMOVABLE;
  h.tli = 3;
  h.pageaddr = Lsn(0x584000);
  h.rem_len = 649;
  auto b = encoded(h);
  REQUIRE(b.size() == 24);
  auto d = decode_page_header(b, Lsn(0x584000), kDefaultSegmentSize);
  REQUIRE(d);
  CHECK(d->rem_len == 649);
  CHECK(!d->is_long);
  CHECK(d->info == 0x0005);
}

TEST_CASE("page header checks and their messages") {
  PageCheck check;
  check.file_tli = 1;
  PageFault fault;

  std::vector<std::uint8_t> zero(40, 0);
  auto r = decode_page_header(zero, Lsn(0x2002000), check, &fault);
  REQUIRE(!r);
  CHECK(fault == PageFault::kZeroHeader);
  CHECK(r.error().message == "invalid magic number 0000 in log segment 000000010000000000000002, offset 8192");

  PageHeader h;
  h.tli = 1;
  h.pageaddr = Lsn(0x2002000);
  h.magic = 0xD10D;  // PG14
  r = decode_page_header(encoded(h), Lsn(0x2002000), check, &fault);
  REQUIRE(!r);
  CHECK(fault == PageFault::kBadMagic);
  CHECK(r.error().message.find("invalid magic number D10D") == 0);

  h.magic = kPageMagic;
  h.info = 0x0010;
  r = decode_page_header(encoded(h), Lsn(0x2002000), check, &fault);
  REQUIRE(!r);
  CHECK(fault == PageFault::kBadInfo);
  CHECK(r.error().message.find("invalid info bits 0010") == 0);

  // No long header at segment offset 0.
  h.info = 0;
  h.pageaddr = Lsn(0x2000000);
  r = decode_page_header(encoded(h), Lsn(0x2000000), check, &fault);
  REQUIRE(!r);
  CHECK(fault == PageFault::kBadInfo);

  // Stale pageaddr (a recycled segment).
  h.pageaddr = Lsn(0x1002000);
  r = decode_page_header(encoded(h), Lsn(0x2002000), check, &fault);
  REQUIRE(!r);
  CHECK(fault == PageFault::kBadPageAddr);
  CHECK(r.error().message == "unexpected pageaddr 0/1002000 in log segment 000000010000000000000002, offset 8192");

  // Long-header cross-checks.
  PageHeader lh = long_header(Lsn(0x2000000));
  CHECK(decode_page_header(encoded(lh), Lsn(0x2000000), check, &fault));
  lh.seg_size = 1 << 20;
  r = decode_page_header(encoded(lh), Lsn(0x2000000), check, &fault);
  REQUIRE(!r);
  CHECK(fault == PageFault::kWrongSystem);
  CHECK(r.error().message.find("WAL file is from different database system") == 0);
  lh = long_header(Lsn(0x2000000));
  lh.blcksz = 4096;
  CHECK(!decode_page_header(encoded(lh), Lsn(0x2000000), check, &fault));
  CHECK(fault == PageFault::kWrongSystem);
  lh = long_header(Lsn(0x2000000));
  check.expected_sysid = 12345;  // the startup process knows it; pg_waldump does not
  CHECK(!decode_page_header(encoded(lh), Lsn(0x2000000), check, &fault));
  CHECK(fault == PageFault::kWrongSystem);
  check.expected_sysid = 0;

  // A long header off a segment start is accepted; its size follows the flag (§7.10).
  lh = long_header(Lsn(0x2004000));
  auto ok = decode_page_header(encoded(lh), Lsn(0x2004000), check, &fault);
  REQUIRE(ok);
  CHECK(ok->size() == 40);

  // Padding bytes 20..23 are not checked.
  PageHeader s;
  s.tli = 1;
  s.pageaddr = Lsn(0x2006000);
  auto b = encoded(s);
  b[21] = 0x77;
  CHECK(decode_page_header(b, Lsn(0x2006000), check, &fault));

  // Too short.
  CHECK(!decode_page_header(std::span<const std::uint8_t>(b.data(), 10), Lsn(0x2006000), check, &fault));
  CHECK(fault == PageFault::kTooShort);
}
