// Heap pages of the synthetic compute: valid PostgreSQL headers, ops that fit
// and keep the hole zero, pd_lsn layout, and the latency histogram.
#include <doctest/doctest.h>

#include "compute/histogram.h"
#include "compute/page_model.h"
#include "compute/truth.h"

namespace wq::compute {

TEST_CASE("a loaded page is a full, valid heap page") {
  Page p{};
  apply_op(p, 7, Op{Op::kInitFilled, 0, 282, 0, 42});
  CHECK(page_header_valid(p));
  CHECK(item_count(p) == 25);  // (8192 - 24) / (4 + MAXALIGN(24 + 282))
  CHECK(free_space(p) < 4 + 312);
  CHECK(wal::load_u16(p.data() + 18) == (8192 | 4));
  CHECK(wal::load_u16(p.data() + 16) == 8192);
  // The first tuple's ctid names block 7, slot 1; its xmin is frozen.
  std::uint32_t lp = wal::load_u32(p.data() + 24);
  std::uint32_t off = lp & 0x7FFF;
  CHECK((lp >> 17) == 24 + 282);
  CHECK(wal::load_u32(p.data() + off) == 2);
  CHECK(wal::load_u16(p.data() + off + 14) == 7);
  CHECK(wal::load_u16(p.data() + off + 16) == 1);
  // Deterministic: the same op gives the same bytes; another nonce others.
  Page q{};
  apply_op(q, 7, Op{Op::kInitFilled, 0, 282, 0, 42});
  CHECK(p == q);
  apply_op(q, 7, Op{Op::kInitFilled, 0, 282, 0, 43});
  CHECK(p != q);
}

TEST_CASE("inserts fill an empty page until they no longer fit; updates rewrite in place") {
  Page p{};
  CHECK_FALSE(page_header_valid(p));  // all zero: PageIsNew
  apply_op(p, 0, Op{Op::kInitEmpty, 0, 0, 0, 0});
  CHECK(page_header_valid(p));
  CHECK(free_space(p) == 8192 - 24);
  Op ins{Op::kInsert, 0, 30, 1234, 9};
  int n = 0;
  while (fits(p, ins)) {
    ins.nonce += 1;
    apply_op(p, 0, ins);
    CHECK(page_header_valid(p));
    ++n;
  }
  CHECK(n == (8192 - 24) / (4 + 56));
  CHECK(item_count(p) == n);
  Op up{Op::kUpdate, 3, 16, 777, 5};
  CHECK(fits(p, up));
  Page before = p;
  apply_op(p, 0, up);
  CHECK(page_header_valid(p));
  int changed = 0;
  for (std::size_t i = 0; i < p.size(); ++i) changed += p[i] != before[i];
  CHECK(changed > 0);
  CHECK(changed <= 4 + 2 + 16);  // xmin, infomask, the columns
  CHECK_FALSE(fits(p, Op{Op::kUpdate, static_cast<std::uint16_t>(n + 1), 16, 1, 1}));
  CHECK_FALSE(fits(p, Op{Op::kUpdate, 1, 40, 1, 1}));  // longer than the row's data
}

TEST_CASE("pd_lsn is stored as PageXLogRecPtr: high word, then low word") {
  Page p{};
  apply_op(p, 0, Op{Op::kInitEmpty, 0, 0, 0, 0});
  set_page_lsn(p, wal::Lsn(0x0000000501234568ull));
  CHECK(wal::load_u32(p.data()) == 5);
  CHECK(wal::load_u32(p.data() + 4) == 0x01234568u);
  CHECK(page_lsn(p) == wal::Lsn(0x0000000501234568ull));
  CHECK(page_header_valid(p));
}

TEST_CASE("truth journal: encode/decode round trip, torn tail ignored, corruption refused") {
  std::vector<JournalEntry> es = {
      {wal::Lsn(100), 16384, 0, Op{Op::kInitEmpty, 0, 0, 0, 0}},
      {wal::Lsn(100), 16384, 0, Op{Op::kInsert, 0, 30, 1000, 77}},
      {wal::Lsn(200), 16384, 0, Op{Op::kUpdate, 1, 8, 1001, 78}},
  };
  auto bytes = encode_journal_header(1663, 5);
  for (const auto& e : es) {
    std::uint8_t b[kJournalEntrySize];
    encode_entry(e, b);
    bytes.insert(bytes.end(), b, b + kJournalEntrySize);
  }
  auto torn = bytes;
  torn.resize(torn.size() - 3);
  auto j = decode_journal(bytes);
  REQUIRE(j);
  CHECK(j->spc == 1663);
  CHECK(j->db == 5);
  CHECK(j->entries == es);
  auto jt = decode_journal(torn);
  REQUIRE(jt);
  CHECK(jt->entries.size() == 2);
  auto bad = bytes;
  bad[kJournalHeaderSize + kJournalEntrySize + 16] = 9;
  CHECK_FALSE(decode_journal(bad));
  bad = bytes;
  bad[0] = 'X';
  CHECK_FALSE(decode_journal(bad));

  auto at150 = reconstruct_page(es, 16384, 0, wal::Lsn(150));
  REQUIRE(at150);
  CHECK(page_lsn(*at150) == wal::Lsn(100));
  CHECK(item_count(*at150) == 1);
  auto at200 = reconstruct_page(es, 16384, 0, wal::Lsn(200));
  REQUIRE(at200);
  CHECK(page_lsn(*at200) == wal::Lsn(200));
  CHECK(*at150 != *at200);
  CHECK_FALSE(reconstruct_page(es, 16384, 0, wal::Lsn(99)));
  CHECK_FALSE(reconstruct_page(es, 16384, 1, wal::Lsn(200)));
}

TEST_CASE("histogram quantiles are within a bucket of the true value") {
  Histogram h;
  CHECK(h.quantile(0.5) == 0);
  for (std::uint64_t v = 1; v <= 10000; ++v) h.record(v);
  CHECK(h.count() == 10000);
  auto p50 = h.quantile(0.5), p99 = h.quantile(0.99);
  CHECK(p50 >= 5000 * 15 / 16);
  CHECK(p50 <= 5000 * 17 / 16);
  CHECK(p99 >= 9900 * 15 / 16);
  CHECK(p99 <= 10000);
  CHECK(h.quantile(1.0) <= h.max());
  Histogram small;
  for (int i = 0; i < 10; ++i) small.record(3);
  CHECK(small.quantile(0.5) == 3);
  h.merge(small);
  CHECK(h.count() == 10010);
}

}  // namespace wq::compute
