// walquorum-pageserver-bench: in-process figures for the pushdown sweep. It
// writes generic-WAL deltas on a set of hot pages (wal::WalWriter), ingests
// them through a Service over a fresh LevelDB store in a temporary directory
// (image worker running), then times GetPage@LSN of the hot pages at the last
// LSN. One line of results per --threshold. Not a test: numbers only.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "pageserver/image.h"
#include "pageserver/service.h"
#include "wal/encoder.h"

using namespace wq;
using namespace wq::pageserver;
using Clock = std::chrono::steady_clock;

namespace {

wal::Page make_page(std::uint32_t seed) {
  wal::Page p{};
  wal::store_u16(p.data() + 12, 24 + 4 * 40);
  wal::store_u16(p.data() + 14, 8192 - 40 * 100);
  wal::store_u16(p.data() + 16, 8192);
  wal::store_u16(p.data() + 18, 8192 | 4);
  for (std::uint32_t i = 8192 - 40 * 100; i < 8192; ++i) p[i] = static_cast<std::uint8_t>(seed + i);
  return p;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"walquorum-pageserver-bench: ingest and GetPage figures per image threshold"};
  std::vector<std::uint32_t> thresholds{0, 4, 16, 64, 256};
  std::uint32_t pages = 64, deltas = 50'000, reads = 2'000;
  std::size_t cache_pages = ServiceOptions{}.page_cache_pages;
  std::string dir = std::filesystem::temp_directory_path().string();
  app.add_option("--threshold", thresholds, "image thresholds to run (0: no pushdown)");
  app.add_option("--pages", pages, "hot pages");
  app.add_option("--deltas", deltas, "generic-WAL deltas, spread over the hot pages");
  app.add_option("--reads", reads, "GetPage@LSN calls timed");
  app.add_option("--dir", dir, "where the temporary stores go");
  app.add_option("--cache-pages", cache_pages, "image worker's page cache (0: every image read from the store)");
  CLI11_PARSE(app, argc, argv);

  // The WAL, once: an image of each page, then small row-sized changes.
  wal::WalWriter w(wal::Lsn(0x1000000), 1, 1);
  const wal::RelFileNode rel{1663, 5, 16384};
  std::vector<wal::Page> cur(pages);
  for (std::uint32_t b = 0; b < pages; ++b) {
    cur[b] = make_page(b);
    wal::GenericBlock g[1] = {{rel, wal::MAIN_FORKNUM, b, nullptr, &cur[b], true}};
    w.append(wal::make_generic_record(1, g));
  }
  std::mt19937 rng(42);
  for (std::uint32_t i = 0; i < deltas; ++i) {
    std::uint32_t b = rng() % pages;
    wal::Page next = cur[b];
    std::uint32_t at = 8192 - 40 * 100 + (rng() % 100) * 40;
    for (std::uint32_t k = 0; k < 40; ++k) next[at + k] = static_cast<std::uint8_t>(rng());
    wal::GenericBlock g[1] = {{rel, wal::MAIN_FORKNUM, b, &cur[b], &next, false}};
    w.append(wal::make_generic_record(2 + i, g));
    cur[b] = next;
  }
  const wal::Lsn end = w.end_lsn();
  std::vector<std::uint8_t> bytes = w.take_bytes();
  std::printf("wal: %zu bytes, %u pages, %u deltas\n", bytes.size(), pages, deltas);
  std::printf("%9s %12s %11s %10s %10s %10s %10s %10s %8s %9s\n", "threshold", "ingest_MB/s", "ingest_cpu", "images",
              "p50_us", "p99_us", "max_us", "max_delta", "mean_d", "store_MB");
  for (std::uint32_t t : thresholds) {
    std::filesystem::path path = std::filesystem::path(dir) / fmt::format("wq-ps-bench-{}-{}", ::getpid(), t);
    std::filesystem::remove_all(path);
    double cpu = 0, mbps = 0, p50 = 0, p99 = 0, mx = 0, mean_d = 0;
    std::size_t max_d = 0;
    std::uint64_t images = 0;
    {
      auto store = PageStore::open(path.string());
      if (!store) {
        std::fprintf(stderr, "%s\n", store.error().message.c_str());
        return 1;
      }
      ServiceOptions o;
      o.image_threshold = t;
      o.page_cache_pages = cache_pages;
      Service s(**store, o);
      s.start();
      s.begin_stream(wal::Lsn(0x1000000));
      auto t0 = Clock::now();
      double c0 = cpu_seconds();
      wal::Lsn at(0x1000000);
      for (std::size_t off = 0; off < bytes.size(); off += 128 * 1024) {
        std::size_t n = std::min<std::size_t>(128 * 1024, bytes.size() - off);
        if (!s.feed(at, std::span(bytes).subspan(off, n))) return 1;
        at = at + n;
      }
      s.sync_if_due(true);
      if (!s.wait_images_done(std::chrono::minutes(10))) return 1;
      // Ingest time includes the image worker catching up: pushdown is not free.
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      mbps = static_cast<double>(bytes.size()) / secs / 1e6;
      cpu = cpu_seconds() - c0;  // both threads: ingest and the image worker
      std::vector<double> lat;
      std::uint64_t dsum = 0;
      for (std::uint32_t i = 0; i < reads; ++i) {
        PageId id;
        id.spc = rel.spc;
        id.db = rel.db;
        id.rel = rel.rel;
        id.blk = i % pages;
        auto r0 = Clock::now();
        auto r = s.get_page(id, end, std::chrono::seconds(10));
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - r0).count());
        if (!r) {
          std::fprintf(stderr, "read failed: %s\n", r.error().message.c_str());
          return 1;
        }
        if (r->page != cur[id.blk]) {
          // cur has no pd_lsn stamp; compare past the header's LSN bytes.
          if (!std::equal(r->page.begin() + 8, r->page.end(), cur[id.blk].begin() + 8)) {
            std::fprintf(stderr, "page %u differs\n", id.blk);
            return 1;
          }
        }
        max_d = std::max(max_d, r->deltas_replayed);
        dsum += r->deltas_replayed;
      }
      std::sort(lat.begin(), lat.end());
      p50 = lat[lat.size() / 2];
      p99 = lat[lat.size() * 99 / 100];
      mx = lat.back();
      mean_d = static_cast<double>(dsum) / reads;
      images = s.status().images_generated;
      s.stop();
    }
    std::uintmax_t store_bytes = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) store_bytes += e.file_size();
    }
    std::filesystem::remove_all(path);
    std::printf("%9u %12.1f %10.3fs %10llu %10.1f %10.1f %10.1f %10zu %8.1f %9.1f\n", t, mbps, cpu,
                static_cast<unsigned long long>(images), p50, p99, mx, max_d, mean_d,
                static_cast<double>(store_bytes) / 1e6);
  }
  return 0;
}
