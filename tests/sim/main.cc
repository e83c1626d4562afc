// walquorum-sim: runs the deterministic simulator (tests/sim/README.md).
//   walquorum-sim --seed S [--acceptors 3|5] [--trace]       replay one seed
//   walquorum-sim --seeds N [--start S] [--jobs J]             swarm with a summary
//   walquorum-sim --seeds N --expect-violation                 canary: the first failing seed
// Each seed runs single-threaded in a forked worker; a worker that dies (a core
// WQ_ASSERT aborts) is reported as an S18 violation for the seed it was running
// and replaced. Wall-clock time is read only for the progress line and rates.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sim.h"

namespace {

using wq::sim::FaultKind;
using wq::sim::SimResult;

constexpr int kKinds = static_cast<int>(FaultKind::kCount);

// One finished seed, as a worker reports it over its pipe.
struct Report {
  std::uint64_t seed = 0;
  std::int32_t invariant = 0;  // 0 = passed
  std::uint64_t steps = 0;
  std::uint64_t virtual_ms = 0;
  std::uint64_t hash = 0;
  std::uint64_t committed = 0;
  std::uint64_t faults[kKinds] = {};
};

// The seed a worker is running, for its abort handler.
wq::sim::Sim* g_current = nullptr;
std::string g_program = "walquorum-sim";
std::uint64_t g_current_seed = 0;

void on_abort(int) {
  // Best effort from a dying process: the core's assertion message is already on stderr.
  std::fflush(stdout);
  char buf[160];
  int n = std::snprintf(buf, sizeof buf,
                        "\nseed %llu: core assertion (S18); replay: %s --seed %llu --trace\n",
                        static_cast<unsigned long long>(g_current_seed), g_program.c_str(),
                        static_cast<unsigned long long>(g_current_seed));
  if (n > 0) (void)!write(2, buf, static_cast<std::size_t>(n));
  if (g_current) {
    std::string t = g_current->trace_tail();
    (void)!write(2, t.data(), t.size());
  }
  signal(SIGABRT, SIG_DFL);
  abort();
}

struct Options {
  std::optional<std::uint64_t> seed;
  std::uint64_t seeds = 0;
  std::uint64_t start = 1;
  int acceptors = 3;
  int jobs = 1;
  bool trace = false;
  bool expect_violation = false;
  bool datagram = false;
  int print_failures = 3;
};

void print_report(const wq::sim::Sim& sim, const SimResult& r) {
  fmt::print(stderr, "\nseed {}: VIOLATED S{} — {}\n  {}\n  fault mix: {}\n  replay: {} --seed {} --trace\n  last events:\n{}",
             r.seed, r.violation->invariant, wq::sim::invariant_name(r.violation->invariant),
             r.violation->what, r.mix, g_program, r.seed, sim.trace_tail());
}

SimResult run_one(std::uint64_t seed, const Options& o, bool print) {
  wq::sim::SimConfig c;
  c.seed = seed;
  c.acceptors = o.acceptors;
  c.trace = o.trace;
  c.datagram = o.datagram;
  wq::sim::Sim sim(c);
  g_current = &sim;
  g_current_seed = seed;
  SimResult r = sim.run();
  if (r.violation && print) print_report(sim, r);
  g_current = nullptr;
  return r;
}

[[noreturn]] void worker(int fd, std::uint64_t first, std::uint64_t stride, std::uint64_t end,
                         const Options& o) {
  signal(SIGABRT, on_abort);
  int printed = 0;
  for (std::uint64_t s = first; s < end; s += stride) {
    SimResult r = run_one(s, o, printed < o.print_failures);
    Report rep;
    rep.seed = s;
    rep.invariant = r.violation ? r.violation->invariant : 0;
    if (r.violation) ++printed;
    rep.steps = r.steps;
    rep.virtual_ms = r.virtual_ms;
    rep.hash = r.state_hash;
    rep.committed = r.committed_bytes;
    for (int k = 0; k < kKinds; ++k) rep.faults[k] = r.faults[static_cast<std::size_t>(k)];
    const char* p = reinterpret_cast<const char*>(&rep);
    std::size_t left = sizeof rep;
    while (left > 0) {
      ssize_t n = write(fd, p, left);
      if (n <= 0) _exit(3);
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  _exit(0);
}

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::uint64_t next = 0;  // the seed it is running now (or will run next)
  std::string buf;
};

int swarm(const Options& o) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const std::uint64_t end = o.start + o.seeds;
  const std::uint64_t stride = static_cast<std::uint64_t>(std::max(1, o.jobs));
  std::vector<Worker> ws;
  auto spawn = [&](std::uint64_t first) {
    int p[2];
    if (pipe(p) != 0) {
      std::perror("pipe");
      std::exit(2);
    }
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      std::exit(2);
    }
    if (pid == 0) {
      close(p[0]);
      worker(p[1], first, stride, end, o);
    }
    close(p[1]);
    Worker w;
    w.pid = pid;
    w.fd = p[0];
    w.next = first;
    return w;
  };
  for (std::uint64_t j = 0; j < stride && o.start + j < end; ++j) ws.push_back(spawn(o.start + j));

  std::uint64_t done = 0, violations = 0, steps = 0, vms = 0, committed = 0;
  std::array<std::uint64_t, kKinds> faults{};
  std::map<int, std::uint64_t> by_inv;
  std::vector<std::pair<std::uint64_t, int>> failed;
  std::optional<std::uint64_t> min_fail;
  auto last_progress = Clock::now();
  const bool tty = isatty(2);

  auto record = [&](const Report& r) {
    ++done;
    steps += r.steps;
    vms += r.virtual_ms;
    committed += r.committed;
    for (int k = 0; k < kKinds; ++k) faults[static_cast<std::size_t>(k)] += r.faults[k];
    if (r.invariant != 0) {
      ++violations;
      ++by_inv[r.invariant];
      failed.emplace_back(r.seed, r.invariant);
      if (!min_fail || r.seed < *min_fail) min_fail = r.seed;
    }
  };

  for (int guard = 0; guard < 1 << 30; ++guard) {
    bool any = false;
    for (auto& w : ws) any = any || w.fd >= 0;
    if (!any) break;
    if (o.expect_violation && min_fail) {
      // Stop once no worker can still find a smaller failing seed.
      bool all_past = true;
      for (auto& w : ws)
        if (w.fd >= 0 && w.next < *min_fail) all_past = false;
      if (all_past) {
        for (auto& w : ws)
          if (w.fd >= 0) {
            kill(w.pid, SIGKILL);
            waitpid(w.pid, nullptr, 0);
            close(w.fd);
            w.fd = -1;
          }
        break;
      }
    }
    std::vector<pollfd> pfds;
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < ws.size(); ++i)
      if (ws[i].fd >= 0) {
        pfds.push_back({ws[i].fd, POLLIN, 0});
        idx.push_back(i);
      }
    int n = poll(pfds.data(), pfds.size(), 1000);
    if (n < 0 && errno != EINTR) {
      std::perror("poll");
      return 2;
    }
    for (std::size_t k = 0; k < pfds.size(); ++k) {
      if (!(pfds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Worker& w = ws[idx[k]];
      char tmp[4096];
      ssize_t got = read(w.fd, tmp, sizeof tmp);
      if (got > 0) {
        w.buf.append(tmp, static_cast<std::size_t>(got));
        while (w.buf.size() >= sizeof(Report)) {
          Report r;
          std::memcpy(&r, w.buf.data(), sizeof r);
          w.buf.erase(0, sizeof r);
          record(r);
          w.next = r.seed + stride;
        }
        continue;
      }
      // EOF: the worker finished or died.
      close(w.fd);
      w.fd = -1;
      int status = 0;
      waitpid(w.pid, &status, 0);
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && w.next < end) {
        Report r;
        r.seed = w.next;
        r.invariant = wq::sim::kS18CoreSelfCheck;
        record(r);
        if (w.next + stride < end) {
          std::uint64_t next = w.next + stride;
          w = spawn(next);
        }
      }
    }
    auto now = Clock::now();
    if (now - last_progress > std::chrono::seconds(tty ? 1 : 10)) {
      last_progress = now;
      double secs = std::chrono::duration<double>(now - t0).count();
      fmt::print(stderr, "{}seeds {}/{}  violations {}  {:.0f} seeds/s  {:.0f} steps/s{}",
                 tty ? "\r" : "", done, o.seeds, violations, done / secs, steps / secs,
                 tty ? "" : "\n");
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (tty) fmt::print(stderr, "\n");
  fmt::print("summary: seeds {} (from {}), acceptors {}, jobs {}\n", done, o.start, o.acceptors,
             o.jobs);
  fmt::print("  violations {}", violations);
  for (auto& [inv, c] : by_inv) fmt::print("  S{}:{}", inv, c);
  fmt::print("\n");
  std::sort(failed.begin(), failed.end());
  for (std::size_t i = 0; i < failed.size() && i < 10; ++i)
    fmt::print("  failing seed {} (S{} {})\n", failed[i].first, failed[i].second,
               wq::sim::invariant_name(failed[i].second));
  fmt::print("  wall {:.1f}s  {:.1f} seeds/s  {:.0f} steps/s  {} steps  {:.1f} simulated hours\n",
             secs, done / secs, steps / secs, steps, vms / 3.6e6);
  fmt::print("  committed WAL {:.1f} MiB\n", committed / 1048576.0);
  fmt::print("  faults:");
  for (int k = 0; k < kKinds; ++k)
    fmt::print(" {}={}", wq::sim::fault_kind_name(static_cast<FaultKind>(k)),
               faults[static_cast<std::size_t>(k)]);
  fmt::print("\n");
  if (o.expect_violation) {
    if (min_fail) {
      int inv = 0;
      for (auto& [s, i] : failed)
        if (s == *min_fail) inv = i;
      fmt::print("first failing seed {} (S{})\n", *min_fail, inv);
      return 0;
    }
    fmt::print("NO VIOLATION FOUND in {} seeds: the canary was not caught\n", done);
    return 1;
  }
  return violations == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"walquorum deterministic simulator (tests/sim/README.md)"};
  if (argc > 0) {
    g_program = argv[0];
    auto slash = g_program.rfind('/');
    if (slash != std::string::npos) g_program = g_program.substr(slash + 1);
  }
  Options o;
  std::uint64_t seed = 0;
  auto* seed_opt = app.add_option("--seed", seed, "replay one seed");
  app.add_option("--seeds", o.seeds, "run a swarm of N seeds");
  app.add_option("--start", o.start, "first seed of the swarm")->capture_default_str();
  app.add_option("--acceptors", o.acceptors, "3 or 5")->check(CLI::IsMember({3, 5}))->capture_default_str();
  app.add_option("--jobs", o.jobs, "worker processes")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_flag("--trace", o.trace, "print every event");
  app.add_flag("--datagram", o.datagram,
               "also duplicate messages within a connection (outside the core's FIFO contract)");
  app.add_flag("--expect-violation", o.expect_violation,
               "canary mode: succeed iff some seed fails; print the first failing seed");
  app.add_option("--print-failures", o.print_failures, "reports printed per worker")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (*seed_opt) {
    signal(SIGABRT, on_abort);
    SimResult r = run_one(seed, o, true);
    fmt::print("seed {} acceptors {}: {} steps {} virtual {} ms committed {} bytes elections {} hash {:016x}\n",
               seed, o.acceptors, r.violation ? "VIOLATION" : "ok", r.steps, r.virtual_ms,
               r.committed_bytes, r.elections, r.state_hash);
    fmt::print("  mix: {}\n", r.mix);
    return r.violation ? 1 : 0;
  }
  if (o.seeds == 0) {
    fmt::print(stderr, "walquorum-sim: give --seed S or --seeds N (see --help)\n");
    return 2;
  }
  return swarm(o);
}
