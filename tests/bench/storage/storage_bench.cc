// storage-bench: what the safekeeper's disk path costs on this machine.
//  1. 8 KiB pwrite + fdatasync: into a zero-filled preallocated file, into a
//     posix_fallocate'd file, and appending to a growing file (ops/s, p50/p99 µs).
//  2. WalStore append + sync at 128 KiB batches through 16 MiB segments,
//     preallocation ahead included (MB/s).
// Prints a Markdown block for docs/BENCHMARKS.md with the command line.
// Usage: storage-bench [--dir DIR] [--ops N] [--mib M]
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "storage/io.h"
#include "storage/wal_store.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Latency {
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

Latency summarize(std::vector<double> us, double total_s) {
  std::sort(us.begin(), us.end());
  Latency l;
  l.ops_per_s = static_cast<double>(us.size()) / total_s;
  l.p50_us = us[us.size() / 2];
  l.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  return l;
}

enum class FileKind { kZeroFilled, kFallocated, kGrowing };

Latency write_sync(const std::string& path, FileKind kind, int ops) {
  constexpr std::size_t kBlock = 8192;
  std::uint64_t size = static_cast<std::uint64_t>(ops) * kBlock;
  if (kind != FileKind::kGrowing) {
    auto st = wq::storage::create_preallocated(path, size, kind == FileKind::kZeroFilled);
    if (!st) {
      fmt::print(stderr, "cannot preallocate {}: {}\n", path, st.error().message);
      std::exit(1);
    }
  }
  auto fd = wq::storage::open_file(path, O_RDWR | O_CREAT);
  if (!fd) {
    fmt::print(stderr, "{}\n", fd.error().message);
    std::exit(1);
  }
  std::vector<std::uint8_t> block(kBlock, 0xAB);
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(ops));
  auto t0 = Clock::now();
  for (int i = 0; i < ops; ++i) {
    auto a = Clock::now();
    block[0] = static_cast<std::uint8_t>(i);
    auto st = wq::storage::write_all_or_die(fd->get(), static_cast<std::uint64_t>(i) * kBlock,
                                            block, path);
    if (!st) {
      fmt::print(stderr, "{}\n", st.error().message);
      std::exit(1);
    }
    wq::storage::fdatasync_or_die(fd->get(), path);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  double total = std::chrono::duration<double>(Clock::now() - t0).count();
  ::unlink(path.c_str());
  return summarize(std::move(us), total);
}

double wal_store_mb_s(const std::string& dir, std::uint64_t total_mib) {
  constexpr std::size_t kBatch = 128 * 1024;
  wq::storage::WalStoreOptions o;  // 16 MiB segments, zero-filled, preallocate ahead
  auto store = wq::storage::WalStore::open(dir, o);
  if (!store) {
    fmt::print(stderr, "{}\n", store.error().message);
    std::exit(1);
  }
  std::vector<std::uint8_t> batch(kBatch, 0x5C);
  std::uint64_t total = total_mib << 20;
  wq::wal::Lsn lsn(o.seg_size);
  auto t0 = Clock::now();
  for (std::uint64_t done = 0; done < total; done += kBatch) {
    auto st = store->write(lsn, batch);
    if (!st) {
      fmt::print(stderr, "{}\n", st.error().message);
      std::exit(1);
    }
    lsn += kBatch;
    store->sync();
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(total) / (1024.0 * 1024.0) / s;
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = ::getenv("TMPDIR");
  std::string base = tmp && *tmp ? tmp : "/tmp";
  int ops = 2000;
  std::uint64_t mib = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") base = argv[i + 1];
    else if (a == "--ops") ops = std::max(10, std::atoi(argv[i + 1]));
    else if (a == "--mib") mib = static_cast<std::uint64_t>(std::max(16, std::atoi(argv[i + 1])));
  }
  std::string dir = base + "/wq-storage-bench-" + std::to_string(::getpid());
  if (auto st = wq::storage::make_dirs(dir); !st) {
    fmt::print(stderr, "{}\n", st.error().message);
    return 1;
  }
  Latency zero = write_sync(dir + "/zero", FileKind::kZeroFilled, ops);
  Latency falloc = write_sync(dir + "/falloc", FileKind::kFallocated, ops);
  Latency grow = write_sync(dir + "/grow", FileKind::kGrowing, ops);
  double mbs = wal_store_mb_s(dir + "/wal", mib);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);

  std::string cmd = "storage-bench";
  for (int i = 1; i < argc; ++i) cmd += std::string(" ") + argv[i];
  fmt::print("## Storage (src/storage)\n\n");
  fmt::print("`{}` (files under {}):\n\n", cmd, base);
  fmt::print("| 8 KiB pwrite + fdatasync, {} ops | ops/s | p50 µs | p99 µs |\n", ops);
  fmt::print("|---|---:|---:|---:|\n");
  auto row = [](const char* name, const Latency& l) {
    fmt::print("| {} | {:.0f} | {:.0f} | {:.0f} |\n", name, l.ops_per_s, l.p50_us, l.p99_us);
  };
  row("preallocated, zero-filled", zero);
  row("preallocated, posix_fallocate", falloc);
  row("growing file (append)", grow);
  fmt::print("\nWalStore append + sync, 128 KiB batches, 16 MiB segments (zero-filled, "
             "preallocated ahead), {} MiB: **{:.1f} MB/s**\n",
             mib, mbs);
  return 0;
}
