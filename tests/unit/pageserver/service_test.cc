// Service over a real LevelDB store in a temporary directory: ingest of a
// generic-WAL stream fed in odd chunks, reads at every LSN, the pushdown bound
// (and its absence at threshold 0), durable LSN across reopen, retention.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <random>
#include <vector>

#include "pageserver/image.h"
#include "pageserver/service.h"
#include "wal/encoder.h"

using namespace wq::pageserver;
using namespace wq::wal;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int n = 0;
    path = std::filesystem::temp_directory_path() /
           ("wq_ps_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

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

Page after(Page p, Lsn end) {
  std::uint16_t lower = load_u16(p.data() + 12), upper = load_u16(p.data() + 14);
  if (lower < upper) std::fill(p.begin() + lower, p.begin() + upper, 0);
  set_page_lsn(p, end);
  return p;
}

constexpr RelFileNode kRel{1663, 5, 16500};
constexpr std::uint32_t kPages = 4;

// WAL: an image of each page, then `n` deltas on pseudo-random pages. history[i]
// is every page after record i; ends[i] that record's end LSN.
struct Workload {
  std::vector<std::uint8_t> bytes;
  std::vector<Lsn> ends;
  std::vector<std::array<Page, kPages>> history;
};

Workload make_workload(int n, std::uint32_t seed) {
  Workload w;
  WalWriter writer(Lsn(0x5000000), 1, 42);
  std::array<Page, kPages> pages;
  for (std::uint32_t b = 0; b < kPages; ++b) {
    pages[b] = make_page(b, 40, 8000);
    GenericBlock g[1] = {{kRel, MAIN_FORKNUM, b, nullptr, &pages[b], true}};
    w.ends.push_back(writer.append(make_generic_record(10 + b, g)).end);
    pages[b] = after(pages[b], w.ends.back());
    w.history.push_back(pages);
  }
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    std::uint32_t b = rng() % kPages;
    auto lower = static_cast<std::uint16_t>(40 + 4 * (rng() % 100));
    auto upper = static_cast<std::uint16_t>(7000 + rng() % 1000);
    Page next = make_page(rng(), lower, upper);
    GenericBlock g[1] = {{kRel, MAIN_FORKNUM, b, &pages[b], &next, false}};
    w.ends.push_back(writer.append(make_generic_record(100 + i, g)).end);
    pages[b] = after(next, w.ends.back());
    w.history.push_back(pages);
  }
  w.bytes = writer.take_bytes();
  return w;
}

PageId page_id(const ServiceOptions& o, std::uint32_t b) {
  return PageId{o.tenant, o.timeline, kRel.spc, kRel.db, kRel.rel, MAIN_FORKNUM, b};
}

void feed_all(Service& s, const Workload& w, std::size_t chunk) {
  s.begin_stream(Lsn(0x5000000));
  Lsn at(0x5000000);
  for (std::size_t off = 0; off < w.bytes.size(); off += chunk) {
    std::size_t n = std::min(chunk, w.bytes.size() - off);
    auto st = s.feed(at, std::span(w.bytes).subspan(off, n));
    REQUIRE_MESSAGE(st.has_value(), st.error().message);
    at = at + n;
  }
}

}  // namespace

TEST_CASE("service: every page at every LSN, and no read replays more than the threshold") {
  for (std::uint32_t threshold : {0u, 1u, 4u}) {
    TempDir dir;
    auto store = PageStore::open((dir.path / "db").string());
    REQUIRE(store);
    ServiceOptions o;
    o.tenant[0] = 9;
    o.image_threshold = threshold;
    o.image_queue_max = 2;  // small: ingest has to wait on the worker
    Service s(**store, o);
    s.start();
    Workload w = make_workload(120, threshold);
    feed_all(s, w, 777);
    REQUIRE(s.wait_images_done(30s));
    std::size_t max_replayed = 0;
    for (std::size_t i = 0; i < w.ends.size(); ++i) {
      for (std::uint32_t b = 0; b < kPages; ++b) {
        auto r = s.get_page(page_id(o, b), w.ends[i], 10s);
        if (i < b) {  // before the page's first image
          REQUIRE_FALSE(r);
          CHECK(r.error().code == wq::base::ErrorCode::kNotFound);
          continue;
        }
        REQUIRE_MESSAGE(r.has_value(), r.error().message);
        CHECK(r->page == w.history[i][b]);
        max_replayed = std::max(max_replayed, r->deltas_replayed);
      }
    }
    auto st = s.status();
    CHECK(st.ingest_lsn == w.ends.back());
    if (threshold == 0) {
      CHECK(st.images_generated == 0);
      CHECK(max_replayed > 8);  // the chain only grows without pushdown
    } else {
      CHECK(st.images_generated > 0);
      CHECK(max_replayed <= threshold);
      CHECK(st.deltas_replayed_max <= threshold);
    }
    s.stop();
  }
}

TEST_CASE("service: reads wait for ingest, time out past it; the durable LSN survives reopen") {
  TempDir dir;
  Workload w = make_workload(30, 7);
  ServiceOptions o;
  o.image_threshold = 8;
  {
    auto store = PageStore::open((dir.path / "db").string());
    REQUIRE(store);
    Service s(**store, o);
    s.start();
    CHECK_FALSE(s.resume_lsn());
    feed_all(s, w, 4096);
    auto r = s.get_page(page_id(o, 0), w.ends.back() + 8, 50ms);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == wq::base::ErrorCode::kTimeout);
    CHECK(s.sync_if_due(true) == w.ends.back());
    s.stop();
  }
  auto store = PageStore::open((dir.path / "db").string());
  REQUIRE(store);
  CHECK((*store)->recorded_durable_lsn() == w.ends.back());
  Service s(**store, o);
  s.start();
  CHECK(s.resume_lsn() == w.ends.back());
  auto r = s.get_page(page_id(o, 2), w.ends.back(), 1s);
  REQUIRE(r);
  CHECK(r->page == w.history.back()[2]);
  s.stop();
}

TEST_CASE("service: bad WAL stops the stream with the decoder's reason") {
  TempDir dir;
  auto store = PageStore::open((dir.path / "db").string());
  REQUIRE(store);
  Service s(**store, ServiceOptions{});
  s.begin_stream(Lsn(0x5000000));
  std::vector<std::uint8_t> junk(8192, 0x5A);
  auto st = s.feed(Lsn(0x5000000), junk);
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("end of valid WAL") != std::string::npos);
  CHECK_FALSE(s.feed(Lsn(0x6000000), junk));  // not contiguous
}

TEST_CASE("retention: reads at or after the horizon are unchanged, below it refused") {
  TempDir dir;
  auto store = PageStore::open((dir.path / "db").string());
  REQUIRE(store);
  ServiceOptions o;
  o.image_threshold = 5;
  Service s(**store, o);
  s.start();
  Workload w = make_workload(200, 3);
  feed_all(s, w, 10000);
  REQUIRE(s.wait_images_done(30s));
  std::size_t h = 150;
  std::uint64_t deleted = s.compact(w.ends[h]);
  CHECK(deleted > 0);
  for (std::size_t i = h; i < w.ends.size(); ++i) {
    for (std::uint32_t b = 0; b < kPages; ++b) {
      auto r = s.get_page(page_id(o, b), w.ends[i], 10s);
      REQUIRE_MESSAGE(r.has_value(), r.error().message);
      CHECK(r->page == w.history[i][b]);
    }
  }
  auto below = s.get_page(page_id(o, 0), w.ends[h - 1], 1s);
  REQUIRE_FALSE(below);
  CHECK(below.error().code == wq::base::ErrorCode::kRefused);
  CHECK(s.compact(w.ends[h]) == 0);
  s.stop();
}

TEST_CASE("store: the base exactly at the read LSN, the highest LSN, and a neighbour's versions") {
  TempDir dir;
  auto store = PageStore::open((dir.path / "db").string());
  REQUIRE(store);
  PageId a, b;
  a.blk = 1;
  b.blk = 2;
  Page pa = make_page(1, 40, 8000), pb = make_page(2, 40, 8000);
  (*store)->put_image(a, Lsn(100), pa);
  (*store)->put_image(b, Lsn(50), pb);
  auto exact = (*store)->read(a, Lsn(100));
  REQUIRE(exact);
  CHECK(exact->page == pa);
  CHECK_FALSE((*store)->read(a, Lsn(99)));  // b's older image must not be taken for a's
  auto top = (*store)->read(b, Lsn(~0ull));
  REQUIRE(top);
  CHECK(top->page == pb);
  auto top_a = (*store)->read(a, Lsn(~0ull));
  REQUIRE(top_a);
  CHECK(top_a->base_lsn == Lsn(100));
}

TEST_CASE("service: the pushdown bound holds across a restart in the middle of chains") {
  TempDir dir;
  Workload w = make_workload(200, 11);
  ServiceOptions o;
  o.image_threshold = 6;
  std::size_t cut = w.bytes.size() / 2 + 123;
  Lsn resume;
  {
    auto store = PageStore::open((dir.path / "db").string());
    REQUIRE(store);
    Service s(**store, o);
    s.start();
    s.begin_stream(Lsn(0x5000000));
    REQUIRE(s.feed(Lsn(0x5000000), std::span(w.bytes).first(cut)));
    REQUIRE(s.wait_images_done(30s));
    resume = s.sync_if_due(true);
    s.stop();
  }
  auto store = PageStore::open((dir.path / "db").string());
  REQUIRE(store);
  Service s(**store, o);
  s.start();
  REQUIRE(s.resume_lsn() == resume);
  s.begin_stream(resume);
  std::size_t from = static_cast<std::size_t>(resume - Lsn(0x5000000));
  REQUIRE(s.feed(resume, std::span(w.bytes).subspan(from)));
  REQUIRE(s.wait_images_done(30s));
  for (std::size_t i = kPages; i < w.ends.size(); ++i) {
    if (w.ends[i] < resume) continue;
    for (std::uint32_t b = 0; b < kPages; ++b) {
      auto r = s.get_page(page_id(o, b), w.ends[i], 10s);
      REQUIRE_MESSAGE(r.has_value(), r.error().message);
      CHECK(r->page == w.history[i][b]);
      CHECK(r->deltas_replayed <= 6);
    }
  }
  s.stop();
}

namespace {

// Like make_workload, but every 17th record is an FPI of a page (XLOG_FPI) in
// the middle of its chain, so images come from three sources: WAL, the worker's
// cache and the store.
Workload make_fpi_workload(int n, std::uint32_t seed) {
  Workload w;
  WalWriter writer(Lsn(0x5000000), 1, 42);
  std::array<Page, kPages> pages;
  for (std::uint32_t b = 0; b < kPages; ++b) {
    pages[b] = make_page(b, 40, 8000);
    GenericBlock g[1] = {{kRel, MAIN_FORKNUM, b, nullptr, &pages[b], true}};
    w.ends.push_back(writer.append(make_generic_record(10 + b, g)).end);
    pages[b] = after(pages[b], w.ends.back());
    w.history.push_back(pages);
  }
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    std::uint32_t b = rng() % kPages;
    auto lower = static_cast<std::uint16_t>(40 + 4 * (rng() % 100));
    auto upper = static_cast<std::uint16_t>(7000 + rng() % 1000);
    Page next = make_page(rng(), lower, upper);
    if (i % 17 == 16) {
      w.ends.push_back(writer.append(make_fpi_record(kRel, MAIN_FORKNUM, b, next)).end);
    } else {
      GenericBlock g[1] = {{kRel, MAIN_FORKNUM, b, &pages[b], &next, false}};
      w.ends.push_back(writer.append(make_generic_record(100 + i, g)).end);
    }
    pages[b] = after(next, w.ends.back());
    w.history.push_back(pages);
  }
  w.bytes = writer.take_bytes();
  return w;
}

}  // namespace

TEST_CASE("service: images from the worker's cache equal replay, with FPIs mid-chain and any cache size") {
  for (std::uint32_t threshold : {1u, 3u, 8u}) {
    for (std::size_t cache : {std::size_t{0}, std::size_t{1}, std::size_t{1024}}) {
      CAPTURE(threshold);
      CAPTURE(cache);
      TempDir dir;
      auto store = PageStore::open((dir.path / "db").string());
      REQUIRE(store);
      ServiceOptions o;
      o.image_threshold = threshold;
      o.page_cache_pages = cache;
      o.image_queue_max = 3;
      o.work_queue_max = 5;  // small: ingest has to wait on the worker
      Service s(**store, o);
      s.start();
      Workload w = make_fpi_workload(150, threshold * 7 + static_cast<std::uint32_t>(cache));
      feed_all(s, w, 501);
      REQUIRE(s.wait_images_done(30s));
      for (std::size_t i = kPages; i < w.ends.size(); ++i) {
        for (std::uint32_t b = 0; b < kPages; ++b) {
          auto r = s.get_page(page_id(o, b), w.ends[i], 10s);
          REQUIRE_MESSAGE(r.has_value(), r.error().message);
          CHECK(r->page == w.history[i][b]);
          CHECK(r->deltas_replayed <= threshold);
        }
      }
      auto st = s.status();
      CHECK(st.images_generated > 0);
      CHECK(st.images_generated == st.cache_hits + st.cache_misses);
      CHECK(st.deltas_replayed_max <= threshold);
      CHECK(st.image_queue_depth == 0);
      CHECK(st.work_queue_depth == 0);
      if (cache == 0) CHECK(st.cache_hits == 0);
      if (cache >= kPages) {
        // Every page is cached from its first image on: misses only before that.
        CHECK(st.cache_misses == 0);
        CHECK(st.cached_pages == kPages);
      }
      s.stop();
    }
  }
}

TEST_CASE("page cache: least recently used goes first; capacity 0 keeps nothing") {
  PageCache c(2);
  PageId a, b, d;
  a.blk = 1;
  b.blk = 2;
  d.blk = 3;
  Page p{};
  c.put(a, Lsn(1), p);
  c.put(b, Lsn(2), p);
  REQUIRE(c.find(a) != nullptr);  // a is now the most recent
  c.put(d, Lsn(3), p);
  CHECK(c.size() == 2);
  CHECK(c.find(b) == nullptr);
  REQUIRE(c.find(a) != nullptr);
  CHECK(c.find(a)->lsn == Lsn(1));
  c.put(a, Lsn(9), p);
  CHECK(c.find(a)->lsn == Lsn(9));
  c.erase(a);
  CHECK(c.find(a) == nullptr);
  CHECK(c.size() == 1);
  PageCache none(0);
  none.put(a, Lsn(1), p);
  CHECK(none.size() == 0);
}
