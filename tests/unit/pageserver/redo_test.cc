// Ingest planning, redo of images and generic WAL, reconstruction at any LSN,
// and the pushdown counter, on WAL written by wal::WalWriter and decoded by
// wal::StreamDecoder.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "pageserver/image.h"
#include "pageserver/ingest.h"
#include "pageserver/redo.h"
#include "wal/decoder.h"
#include "wal/encoder.h"

using namespace wq::pageserver;
using namespace wq::wal;

namespace {

Page make_page(std::uint32_t seed, std::uint16_t lower, std::uint16_t upper) {
  Page p{};
  store_u16(p.data() + 12, lower);
  store_u16(p.data() + 14, upper);
  store_u16(p.data() + 16, 8192);
  store_u16(p.data() + 18, 8192 | 4);
  for (std::uint32_t i = 24; i < lower; ++i) p[i] = static_cast<std::uint8_t>(seed + i);
  for (std::uint32_t i = upper; i < 8192; ++i) p[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return p;
}

// An in-memory page store with the same keys the LevelDB one uses.
struct MemStore {
  std::map<std::string, Version> kv;
  void put(const Put& p) { kv[version_key(p.kind, p.page, p.lsn)] = p.version; }

  wq::base::Result<Reconstructed> read(const PageId& page, Lsn lsn) {
    std::optional<StoredVersion> base;
    auto it = kv.upper_bound(version_key(KeyKind::kBase, page, lsn));
    if (it != kv.begin()) {
      --it;
      auto k = decode_version_key(it->first);
      if (k && k->kind == KeyKind::kBase && k->page == page) base = StoredVersion{k->lsn, it->second};
    }
    std::vector<StoredVersion> deltas;
    Lsn from = base ? base->lsn + 1 : Lsn(0);
    for (auto d = kv.lower_bound(version_key(KeyKind::kDelta, page, from)); d != kv.end(); ++d) {
      auto k = decode_version_key(d->first);
      if (!k || k->kind != KeyKind::kDelta || k->page != page || k->lsn > lsn) break;
      deltas.push_back(StoredVersion{k->lsn, d->second});
    }
    return reconstruct(page, base, deltas);
  }
};

struct Written {
  std::vector<std::uint8_t> bytes;
  std::vector<Lsn> ends;
};

// Decodes everything and feeds it through plan_record into store.
void ingest(const std::vector<std::uint8_t>& bytes, Lsn start, MemStore& store, const Id& tenant,
            const Id& timeline) {
  DecoderOptions opt;
  opt.start_is_page_aligned = true;
  StreamDecoder dec(start, opt);
  dec.feed(bytes);
  dec.finish();
  for (int guard = 0; guard < 100000; ++guard) {
    auto step = dec.next();
    if (!std::holds_alternative<DecodedRecord>(step)) break;
    for (const Put& p : plan_record(std::get<DecodedRecord>(step), tenant, timeline)) store.put(p);
  }
}

Page expected_after(Page p, Lsn end) {
  std::uint16_t lower = load_u16(p.data() + 12), upper = load_u16(p.data() + 14);
  if (lower < upper) std::fill(p.begin() + lower, p.begin() + upper, 0);
  set_page_lsn(p, end);
  return p;
}

}  // namespace

TEST_CASE("generic WAL: image then deltas read back at every LSN, two pages interleaved") {
  Id tenant{}, timeline{};
  tenant[0] = 0xAA;
  timeline[15] = 0x01;
  const RelFileNode rel{1663, 5, 16400};
  WalWriter w(Lsn(0x2000000), 1, 99);
  std::vector<Page> versions_a, versions_b;
  std::vector<Lsn> ends;
  Page a = make_page(1, 40, 8000), b = make_page(2, 60, 7000);
  {
    GenericBlock blocks[2] = {{rel, MAIN_FORKNUM, 0, nullptr, &a, true},
                              {rel, MAIN_FORKNUM, 1, nullptr, &b, true}};
    ends.push_back(w.append(make_generic_record(700, blocks)).end);
    a = expected_after(a, ends.back());
    b = expected_after(b, ends.back());
    versions_a.push_back(a);
    versions_b.push_back(b);
  }
  for (std::uint32_t i = 0; i < 20; ++i) {
    Page na = make_page(100 + i, static_cast<std::uint16_t>(40 + 4 * i), static_cast<std::uint16_t>(8000 - 40 * i));
    GenericBlock blocks[1] = {{rel, MAIN_FORKNUM, i % 3 == 0 ? 1u : 0u, nullptr, &na, false}};
    Page& old = i % 3 == 0 ? b : a;
    blocks[0].old_page = &old;
    ends.push_back(w.append(make_generic_record(701 + i, blocks)).end);
    old = expected_after(na, ends.back());
    versions_a.push_back(a);
    versions_b.push_back(b);
  }
  MemStore store;
  ingest(w.take_bytes(), Lsn(0x2000000), store, tenant, timeline);
  PageId pa{tenant, timeline, rel.spc, rel.db, rel.rel, MAIN_FORKNUM, 0};
  PageId pb = pa;
  pb.blk = 1;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    auto ra = store.read(pa, ends[i]);
    REQUIRE_MESSAGE(ra.has_value(), ra.error().message);
    if (ra->page != versions_a[i]) {
      std::size_t at = 0;
      while (ra->page[at] == versions_a[i][at]) ++at;
      FAIL_CHECK("record " << i << " differs at byte " << at << ": " << int(ra->page[at]) << " vs "
                           << int(versions_a[i][at]));
    }
    auto rb = store.read(pb, ends[i]);
    REQUIRE(rb.has_value());
    CHECK(rb->page == versions_b[i]);
    // Just below the record's end the previous version is visible.
    if (i > 0) {
      auto before = store.read(pa, ends[i] - 1);
      REQUIRE(before.has_value());
      CHECK(before->page == versions_a[i - 1]);
    }
  }
  auto last = store.read(pa, ends.back() + 1000);
  REQUIRE(last.has_value());
  CHECK(last->deltas_replayed == 13);  // 20 deltas, 7 of them on block 1
  auto none = store.read(pa, ends.front() - 1);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == wq::base::ErrorCode::kNotFound);
}

TEST_CASE("a full-page image resets the chain; an image of a new page keeps pd_lsn") {
  Id t{};
  const RelFileNode rel{1663, 5, 16401};
  WalWriter w(Lsn(0x3000000), 1, 99);
  Page p = make_page(5, 40, 8000);
  GenericBlock g[1] = {{rel, MAIN_FORKNUM, 4, nullptr, &p, true}};
  w.append(make_generic_record(1, g));
  Page q = make_page(6, 44, 7990);
  GenericBlock d[1] = {{rel, MAIN_FORKNUM, 4, &p, &q, false}};
  w.append(make_generic_record(2, d));
  Page r = make_page(7, 48, 7900);
  Lsn fpi_end = w.append(make_fpi_record(rel, MAIN_FORKNUM, 4, r)).end;
  Page zero{};
  Lsn new_end = w.append(make_fpi_record(rel, MAIN_FORKNUM, 5, zero, false)).end;
  MemStore store;
  ingest(w.take_bytes(), Lsn(0x3000000), store, t, t);
  PageId id{t, t, rel.spc, rel.db, rel.rel, MAIN_FORKNUM, 4};
  auto got = store.read(id, fpi_end);
  REQUIRE(got.has_value());
  CHECK(got->deltas_replayed == 0);
  CHECK(got->base_lsn == fpi_end);
  CHECK(got->page == expected_after(r, fpi_end));
  id.blk = 5;
  auto fresh = store.read(id, new_end);
  REQUIRE(fresh.has_value());
  CHECK(fresh->page == zero);  // PageIsNew: redo leaves pd_lsn alone
  (void)new_end;
}

TEST_CASE("records of other resource managers are stored; reading through them names the rmgr") {
  Id t{};
  const RelFileNode rel{1663, 5, 16402};
  WalWriter w(Lsn(0x4000000), 1, 99);
  Page p = make_page(9, 40, 8000);
  Lsn img = w.append(make_fpi_record(rel, MAIN_FORKNUM, 0, p)).end;
  std::uint8_t heap_data[6] = {1, 2, 3, 4, 5, 6};
  RecordBuilder heap(RM_HEAP_ID, 0x00);
  heap.add_block(0, rel, MAIN_FORKNUM, 0, heap_data);
  Lsn h = w.append(heap).end;
  RecordBuilder init(RM_HEAP_ID, 0x80);
  init.add_block(0, rel, MAIN_FORKNUM, 9, heap_data, true);
  Lsn hi = w.append(init).end;
  std::vector<std::uint8_t> bytes = w.take_bytes();
  {
    // Heap deltas cannot be replayed here: not counted toward pushdown.
    DecoderOptions opt;
    opt.start_is_page_aligned = true;
    StreamDecoder dec(Lsn(0x4000000), opt);
    dec.feed(bytes);
    std::vector<bool> replayable;
    for (int guard = 0; guard < 10; ++guard) {
      auto step = dec.next();
      if (!std::holds_alternative<DecodedRecord>(step)) break;
      for (const Put& p : plan_record(std::get<DecodedRecord>(step), t, t)) replayable.push_back(p.replayable);
    }
    CHECK(replayable == std::vector<bool>{true, false, false});
  }
  MemStore store;
  ingest(bytes, Lsn(0x4000000), store, t, t);
  PageId id{t, t, rel.spc, rel.db, rel.rel, MAIN_FORKNUM, 0};
  CHECK(store.read(id, img).has_value());
  auto bad = store.read(id, h);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == wq::base::ErrorCode::kUnsupported);
  CHECK(bad.error().message.find("no redo for resource manager Heap") != std::string::npos);
  id.blk = 9;  // a WILL_INIT heap record is a base, still without redo here
  auto bad_init = store.read(id, hi);
  REQUIRE_FALSE(bad_init);
  CHECK(bad_init.error().message.find("no redo for resource manager Heap") != std::string::npos);
  CHECK(store.kv.size() == 3);
}

TEST_CASE("pushdown counter: an image every `threshold` deltas, reset by bases, 0 disables") {
  PageId a, b;
  b.blk = 1;
  PushdownCounter c(3, 100);
  CHECK_FALSE(c.on_delta(a));
  CHECK_FALSE(c.on_delta(a));
  CHECK(c.on_delta(a));
  CHECK(c.count(a) == 0);
  CHECK_FALSE(c.on_delta(a));
  c.on_base(a);
  CHECK_FALSE(c.on_delta(a));
  CHECK_FALSE(c.on_delta(b));
  CHECK(c.tracked_pages() == 2);
  PushdownCounter off(0, 100);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(off.on_delta(a));
  PushdownCounter one(1, 100);
  CHECK(one.on_delta(a));
  CHECK(one.on_delta(a));
  PushdownCounter small(5, 1);
  CHECK_FALSE(small.on_delta(a));
  CHECK(small.on_delta(b));  // no room to count b: image now, the bound holds
  // A page first seen with a stored chain (after a restart) continues from it.
  PushdownCounter seeded(4, 100, [&](const PageId& p) { return p == a ? 2u : 0u; });
  CHECK_FALSE(seeded.on_delta(a));  // 3
  CHECK(seeded.on_delta(a));        // 4
  CHECK_FALSE(seeded.on_delta(b));
  CHECK(seeded.count(b) == 1);
}
