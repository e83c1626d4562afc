// wal-bench: throughput of src/wal's CRC-32C and stream decoder, single core.
//   wal-bench --crc                       CRC-32C MB/s, hardware vs portable, 64 MiB buffer
//   wal-bench --decode DIR_OR_FILES...    decode segment files; records, bytes, MB/s
//   wal-bench --generate DIR [N]          write N (default 8) synthetic 16 MiB segments
// Every figure is the median of 5 runs over data already in memory.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <variant>
#include <vector>

#include "wal/crc32c.h"
#include "wal/decoder.h"
#include "wal/encoder.h"
#include "wal/format.h"

namespace fs = std::filesystem;
using namespace wq::wal;

namespace {

constexpr int kRuns = 5;

// Median wall time and median process CPU time of kRuns runs. On a shared
// machine the CPU figure is the one to quote: wall time includes waiting for a core.
struct Timing {
  double wall = 0;
  double cpu = 0;
};

template <typename F>
Timing median_time(F&& f) {
  std::vector<double> wall, cpu;
  for (int i = 0; i < kRuns; ++i) {
    auto a = std::chrono::steady_clock::now();
    std::clock_t ca = std::clock();
    f();
    std::clock_t cb = std::clock();
    auto b = std::chrono::steady_clock::now();
    wall.push_back(std::chrono::duration<double>(b - a).count());
    cpu.push_back(static_cast<double>(cb - ca) / CLOCKS_PER_SEC);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return Timing{wall[kRuns / 2], cpu[kRuns / 2]};
}

std::uint64_t mix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int run_crc() {
  const std::size_t n = 64u << 20;
  std::vector<std::uint8_t> buf(n);
  std::uint64_t s = 1;
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = mix(s);
    std::memcpy(&buf[i], &v, 8);
  }
  volatile std::uint32_t sink = 0;
  Timing hw = median_time([&] { sink = sink ^ crc32c_update(kCrc32cInit, buf.data(), n); });
  Timing sw = median_time([&] { sink = sink ^ crc32c_portable_update(kCrc32cInit, buf.data(), n); });
  std::uint32_t a = crc32c_update(kCrc32cInit, buf.data(), n);
  std::uint32_t b = crc32c_portable_update(kCrc32cInit, buf.data(), n);
  std::printf("crc32c over 64 MiB, median of %d runs\n", kRuns);
  std::printf("  %-10s %9.1f MB/s per CPU second, %9.1f MB/s wall%s\n", "hardware",
              n / hw.cpu / 1e6, n / hw.wall / 1e6,
              crc32c_hw_available() ? "" : "  (no SSE4.2: this is the portable path)");
  std::printf("  %-10s %9.1f MB/s per CPU second, %9.1f MB/s wall\n", "portable",
              n / sw.cpu / 1e6, n / sw.wall / 1e6);
  if (a != b) {
    std::fprintf(stderr, "MISMATCH: hardware %08x portable %08x\n", a, b);
    return 1;
  }
  return 0;
}

bool read_file(const fs::path& p, std::vector<std::uint8_t>* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

struct Segment {
  fs::path path;
  std::uint32_t tli;
  std::uint64_t segno;
};

int run_decode(const std::vector<std::string>& args) {
  std::vector<fs::path> paths;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      for (const auto& e : fs::directory_iterator(a, ec)) {
        std::string name = e.path().filename().string();
        if (e.is_regular_file() && name.size() == 24) paths.push_back(e.path());
      }
    } else {
      paths.emplace_back(a);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "wal-bench --decode: no segment files given\n");
    return 2;
  }
  // Segment size from the first file's long page header (as pg_waldump).
  std::vector<std::uint8_t> first;
  if (!read_file(paths[0], &first) || first.size() < kLongPageHeaderSize) {
    std::fprintf(stderr, "cannot read a page header from %s\n", paths[0].c_str());
    return 2;
  }
  std::uint64_t seg_size = load_u32(first.data() + 32);
  if (!valid_segment_size(seg_size)) {
    std::fprintf(stderr, "%s: xlp_seg_size %llu is not a valid segment size\n", paths[0].c_str(),
                 static_cast<unsigned long long>(seg_size));
    return 2;
  }
  std::vector<Segment> segs;
  for (const auto& p : paths) {
    auto n = parse_segment_file_name(p.filename().string(), seg_size);
    if (!n) {
      std::fprintf(stderr, "%s\n", n.error().message.c_str());
      return 2;
    }
    segs.push_back(Segment{p, n->tli, n->segno});
  }
  std::sort(segs.begin(), segs.end(), [](const Segment& a, const Segment& b) {
    return a.segno != b.segno ? a.segno < b.segno : a.tli < b.tli;
  });
  // One contiguous stream: consecutive segment numbers from the first.
  std::vector<std::uint8_t> stream;
  std::size_t used = 0;
  for (const auto& s : segs) {
    if (s.segno != segs[0].segno + used) break;
    std::vector<std::uint8_t> b;
    if (!read_file(s.path, &b)) {
      std::fprintf(stderr, "cannot read %s\n", s.path.c_str());
      return 2;
    }
    stream.insert(stream.end(), b.begin(), b.end());
    ++used;
  }
  Lsn start = segment_start(segs[0].segno, seg_size);
  std::uint64_t records = 0, rec_bytes = 0;
  Lsn end;
  std::string why;
  auto once = [&] {
    DecoderOptions opt;
    opt.seg_size = seg_size;
    opt.start_is_page_aligned = true;
    StreamDecoder d(start, opt);
    records = 0;
    rec_bytes = 0;
    const std::size_t chunk = 1 << 20;
    bool done = false;
    for (std::size_t off = 0; !done;) {
      if (off < stream.size()) {
        std::size_t n = std::min(chunk, stream.size() - off);
        d.feed(std::span<const std::uint8_t>(stream.data() + off, n));
        off += n;
      } else {
        d.finish();
      }
      for (;;) {
        DecodeStep s = d.next();
        if (auto* r = std::get_if<DecodedRecord>(&s)) {
          ++records;
          rec_bytes += r->tot_len;
          continue;
        }
        if (auto* e = std::get_if<EndOfWal>(&s)) {
          why = e->message;
          done = true;
        }
        break;
      }
    }
    end = d.end_of_valid_wal();
  };
  Timing t = median_time(once);
  double wal_bytes = static_cast<double>(end - start);
  std::printf("decoded %zu segment(s) of %llu MiB from %s\n", used,
              static_cast<unsigned long long>(seg_size >> 20), start.to_string().c_str());
  std::printf("  records      %llu\n", static_cast<unsigned long long>(records));
  std::printf("  record bytes %llu\n", static_cast<unsigned long long>(rec_bytes));
  std::printf("  valid WAL    %s .. %s (%.1f MB)\n", start.to_string().c_str(),
              end.to_string().c_str(), wal_bytes / 1e6);
  std::printf("  time         %.4f s CPU, %.4f s wall (medians of %d)\n", t.cpu, t.wall, kRuns);
  std::printf("  throughput   %.1f MB/s of WAL per CPU second (%.1f wall), %.0f records/s\n",
              wal_bytes / t.cpu / 1e6, wal_bytes / t.wall / 1e6, records / t.cpu);
  std::printf("  stopped      %s\n", why.c_str());
  return 0;
}

int run_generate(const std::string& dir, int nsegs) {
  const std::uint64_t seg = kDefaultSegmentSize;
  const RelFileNode rel{1663, 5, 16384};
  std::uint64_t s = 7;
  WalWriter w(Lsn(seg), 1, 7000000000000000001ull, seg);
  Page page{};
  for (auto& b : page) b = static_cast<std::uint8_t>(mix(s));
  store_u16(page.data() + 12, 400);
  store_u16(page.data() + 14, 6000);
  std::vector<std::uint8_t> tuple(120, 0x42);
  std::uint32_t xid = 1000;
  // A pgbench-like mix: heap updates with tuple data, a few FPIs, commits.
  while (w.end_lsn() < Lsn(seg * (1 + nsegs)) - 64 * 1024) {
    std::uint64_t r = mix(s) % 100;
    if (r < 8) {
      w.append(make_fpi_record(rel, MAIN_FORKNUM, static_cast<std::uint32_t>(r), page));
    } else if (r < 30) {
      w.append(make_commit_record(xid++, 1));
    } else {
      RecordBuilder rb(RM_HEAP_ID, 0x20);
      rb.set_xid(xid).add_block(0, rel, MAIN_FORKNUM, static_cast<std::uint32_t>(r), tuple);
      std::uint8_t main[14] = {};
      rb.set_main_data(main);
      w.append(rb);
    }
  }
  w.pad_to_segment_end();
  auto bytes = w.take_bytes();
  std::error_code ec;
  fs::create_directories(dir, ec);
  for (std::size_t off = 0, segno = 1; off < bytes.size(); off += seg, ++segno) {
    fs::path p = fs::path(dir) / segment_file_name(1, segno, seg);
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data() + off), static_cast<std::streamsize>(seg));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", p.c_str());
      return 1;
    }
  }
  std::printf("wrote %zu segments to %s, WAL ends at %s\n", bytes.size() / seg, dir.c_str(),
              w.end_lsn().to_string().c_str());
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: wal-bench --crc\n"
               "       wal-bench --decode DIR_OR_FILES...\n"
               "       wal-bench --generate DIR [N]\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "--crc") return run_crc();
  if (mode == "--decode" && argc >= 3) return run_decode(std::vector<std::string>(argv + 2, argv + argc));
  if (mode == "--generate" && argc >= 3) return run_generate(argv[2], argc >= 4 ? std::atoi(argv[3]) : 8);
  usage();
  return 2;
}
