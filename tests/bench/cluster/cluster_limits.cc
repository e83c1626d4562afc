// cluster-limits: the machine's own limits that the safekeeper cluster's
// figures are compared with (TARGETS.md §1), measured in the same run by
// tests/bench/cluster/run.py:
//   disk    one writer: BLOCK-byte pwrite + fdatasync into a pre-zeroed file
//   writers N writers at once, each into its own pre-zeroed file, fdatasync
//           after every BLOCK bytes (the ceiling of 3 safekeepers on one disk)
//   rtt     loopback TCP ping-pong: BYTES request, 8-byte ack
// Each prints one JSON object on stdout. Files go under --dir (give the
// safekeepers' data filesystem) and are removed afterwards. A benchmark, not
// a test: nothing is asserted.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "storage/io.h"

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

double pct(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "cluster-limits: %s\n", what.c_str());
  std::exit(1);
}

wq::storage::Fd zeroed_file(const std::string& path, std::uint64_t bytes) {
  if (auto st = wq::storage::create_preallocated(path, bytes, true); !st) die(st.error().message);
  auto fd = wq::storage::open_file(path, O_RDWR);
  if (!fd) die(fd.error().message);
  return std::move(*fd);
}

// Writes `ops` blocks of `block` bytes, fdatasync after each; returns each op's µs.
std::vector<double> write_sync_loop(const std::string& path, std::size_t block, int ops) {
  auto fd = zeroed_file(path, static_cast<std::uint64_t>(ops) * block);
  std::vector<std::uint8_t> buf(block, 0xA5);
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(ops));
  for (int i = 0; i < ops; ++i) {
    buf[0] = static_cast<std::uint8_t>(i);
    auto t = Clock::now();
    if (auto st = wq::storage::write_all_or_die(fd.get(), static_cast<std::uint64_t>(i) * block, buf, path);
        !st) {
      die(st.error().message);
    }
    wq::storage::fdatasync_or_die(fd.get(), path);
    us.push_back(us_since(t));
  }
  ::unlink(path.c_str());
  return us;
}

int run_disk(const std::string& dir, std::size_t block, int ops) {
  auto t0 = Clock::now();
  auto us = write_sync_loop(dir + "/limits-disk", block, ops);
  double s = us_since(t0) / 1e6;
  fmt::print("{{\"part\":\"disk\",\"block_bytes\":{},\"ops\":{},\"ops_per_s\":{:.0f},\"mb_per_s\":{:.1f},"
             "\"p50_us\":{:.0f},\"p99_us\":{:.0f}}}\n",
             block, ops, ops / s, static_cast<double>(block) * ops / s / 1e6, pct(us, 0.5), pct(us, 0.99));
  return 0;
}

int run_writers(const std::string& dir, std::size_t block, int writers, std::uint64_t mib_each) {
  int ops = static_cast<int>(std::max<std::uint64_t>(1, (mib_each << 20) / block));
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(writers));
  std::vector<double> secs(static_cast<std::size_t>(writers));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto t = Clock::now();
      lat[static_cast<std::size_t>(w)] = write_sync_loop(fmt::format("{}/limits-writer{}", dir, w), block, ops);
      secs[static_cast<std::size_t>(w)] = us_since(t) / 1e6;
    });
  }
  for (auto& t : threads) t.join();
  double wall = us_since(t0) / 1e6;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  double bytes = static_cast<double>(block) * ops;
  std::string each;
  for (int w = 0; w < writers; ++w) {
    each += fmt::format("{}{:.1f}", w ? "," : "", bytes / secs[static_cast<std::size_t>(w)] / 1e6);
  }
  fmt::print("{{\"part\":\"writers\",\"writers\":{},\"block_bytes\":{},\"mib_each\":{},\"mb_per_s\":{:.1f},"
             "\"mb_per_s_each\":[{}],\"p50_us\":{:.0f},\"p99_us\":{:.0f}}}\n",
             writers, block, mib_each, bytes * writers / wall / 1e6, each, pct(all, 0.5), pct(all, 0.99));
  return 0;
}

// Blocking sockets on two threads: the simplest honest ping-pong.
bool full_io(int fd, std::uint8_t* p, std::size_t n, bool write) {
  while (n > 0) {
    ssize_t r = write ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

int run_rtt(std::size_t bytes, int count) {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
    die(fmt::format("loopback listen failed: errno {}", errno));
  }
  std::thread server([&] {
    int s = ::accept(ls, nullptr, nullptr);
    int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::vector<std::uint8_t> req(bytes);
    std::uint8_t ack[8] = {};
    while (full_io(s, req.data(), bytes, false) && full_io(s, ack, sizeof ack, true)) {
    }
    ::close(s);
  });
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("loopback connect failed");
  int one = 1;
  ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<std::uint8_t> req(bytes, 0x3C);
  std::uint8_t ack[8];
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count + 100; ++i) {  // the first 100 warm up
    auto t = Clock::now();
    if (!full_io(c, req.data(), bytes, true) || !full_io(c, ack, sizeof ack, false)) die("ping-pong broke");
    if (i >= 100) us.push_back(us_since(t));
  }
  ::close(c);
  server.join();
  ::close(ls);
  fmt::print("{{\"part\":\"rtt\",\"request_bytes\":{},\"count\":{},\"p50_us\":{:.0f},\"p99_us\":{:.0f}}}\n", bytes,
             count, pct(us, 0.5), pct(us, 0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cluster-limits: the machine's disk and loopback limits, as JSON lines", "cluster-limits"};
  app.require_subcommand(1);
  std::string dir = "/tmp";
  std::size_t block = 8192;
  int ops = 2000;
  int writers = 3;
  std::uint64_t mib_each = 64;
  std::size_t bytes = 8192;
  int count = 5000;
  auto* disk = app.add_subcommand("disk", "one writer: BLOCK pwrite + fdatasync into a pre-zeroed file");
  disk->add_option("--dir", dir, "directory on the filesystem to measure")->required();
  disk->add_option("--block", block, "bytes per write")->check(CLI::Range(512, 64 << 20));
  disk->add_option("--ops", ops)->check(CLI::Range(10, 1000000));
  auto* wr = app.add_subcommand("writers", "N writers, own files, fdatasync per BLOCK");
  wr->add_option("--dir", dir)->required();
  wr->add_option("--block", block)->check(CLI::Range(512, 64 << 20));
  wr->add_option("--writers", writers)->check(CLI::Range(1, 64));
  wr->add_option("--mib-each", mib_each, "MiB written by each writer")->check(CLI::Range(1, 4096));
  auto* rtt = app.add_subcommand("rtt", "loopback TCP ping-pong");
  rtt->add_option("--bytes", bytes, "request size")->check(CLI::Range(1, 1 << 24));
  rtt->add_option("--count", count)->check(CLI::Range(10, 10000000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (disk->parsed()) return run_disk(dir, block, ops);
  if (wr->parsed()) return run_writers(dir, block, writers, mib_each);
  return run_rtt(bytes, count);
}
