// proposer_check: the test compute for the proposer library's integration
// test (proposer_test.py). It links proposer_dep only through client.h, writes
// PostgreSQL WAL (XLOG_NOOP records with a payload, via wal::WalWriter) and
// prints one line per event on stdout for the Python driver:
//   elected term=T term_start_lsn=X timeline_start_lsn=X prev_record_lsn=X
//   write mode:  done end=X last_record=X records=N commit=X callbacks=N
//   stream mode: committed lsn=X | commit_timeout lsn=X commit=X |
//                append_timeout end=X commit=X (--pipelined) |
//                stats state=S commit=X reconnects=N sk1=C:X ... |
//                refused error="..." superseded_by=T then after_refusal ... |
//                stopped end=X last_record=X commit=X
//   bench mode:  bench ... (figures, never asserted)
//   fail reason=...   (exit 1)
// Logs (spdlog) go to stderr.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "proposer/client.h"
#include "wal/encoder.h"
#include "wal/format.h"

namespace {

using namespace std::chrono_literals;
using wq::proposer::Client;
using wq::proposer::Lsn;

struct Args {
  std::string mode = "write";
  std::string safekeepers;
  std::string tenant, timeline;
  std::uint64_t proposer_id = 0;
  std::uint64_t system_id = 7300000000000000001ull;
  std::uint64_t records = 2000;
  std::uint32_t record_bytes = 1000;
  std::uint32_t batch_records = 16;
  int waiters = 4;
  int lsn_waiters = 0;
  bool pipelined = false;
  int commit_timeout_ms = 1000;
  int elect_timeout_ms = 30000;
  std::string expect_term_start, expect_prev;
  std::uint64_t window_bytes = 4 * 1024 * 1024;
};

void say(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int fail(const std::string& why) {
  say(fmt::format("fail reason=\"{}\"", why));
  return 1;
}

// Builds batches of XLOG_NOOP records continuing the timeline where the client was elected.
class Generator {
 public:
  Generator(const wq::proposer::Elected& e, const Args& a)
      : writer_(e.term_start_lsn, 1, a.system_id, wq::wal::kDefaultSegmentSize,
                e.prev_record_lsn),
        payload_(a.record_bytes),
        batch_(a.batch_records) {}

  std::vector<std::uint8_t> next_batch() {
    for (std::uint32_t i = 0; i < batch_; ++i) {
      for (std::size_t k = 0; k < payload_.size(); ++k) {
        payload_[k] = static_cast<std::uint8_t>(records_ * 31 + k);
      }
      wq::wal::RecordBuilder rb(wq::wal::RM_XLOG_ID, wq::wal::XLOG_NOOP);
      rb.set_main_data(payload_);
      writer_.append(rb);
      ++records_;
    }
    return writer_.take_bytes();
  }
  Lsn end() const { return writer_.end_lsn(); }
  Lsn last_record() const { return writer_.prev_record(); }
  std::uint64_t records() const { return records_; }

 private:
  wq::wal::WalWriter writer_;
  std::vector<std::uint8_t> payload_;
  std::uint32_t batch_;
  std::uint64_t records_ = 0;
};

wq::base::Result<std::unique_ptr<Client>> make_client(const Args& a) {
  wq::proposer::Options o;
  std::size_t pos = 0;
  while (pos <= a.safekeepers.size()) {
    std::size_t comma = a.safekeepers.find(',', pos);
    if (comma == std::string::npos) comma = a.safekeepers.size();
    o.safekeepers.push_back(a.safekeepers.substr(pos, comma - pos));
    pos = comma + 1;
  }
  auto t = wq::core::Id128::parse_hex(a.tenant);
  auto l = wq::core::Id128::parse_hex(a.timeline);
  if (!t || !l) {
    return wq::base::Unexpected{wq::base::ErrorCode::kInvalidArgument,
                                "tenant and timeline must be 32 hex digits"};
  }
  o.timeline = {*t, *l};
  o.proposer_id = a.proposer_id;
  o.system_id = a.system_id;
  o.window_bytes_max = a.window_bytes;
  return Client::start(std::move(o));
}

std::string elected_line(const wq::proposer::Elected& e) {
  return fmt::format("elected term={} term_start_lsn={} timeline_start_lsn={} prev_record_lsn={}",
                     e.term.value(), e.term_start_lsn.to_string(),
                     e.timeline_start_lsn.to_string(), e.prev_record_lsn.to_string());
}

// Many wait_committed() callers at different LSNs at once: `n` threads wait for
// the end of (or a byte inside) one of the next batches, started before those
// are appended, and every fourth for an LSN past the last of them. Each lower
// one must return ok with commit_lsn at or past its LSN; each past the end must
// time out (after its full timeout) while the lower ones succeed. Returns the
// failure, or "" and the counts.
std::string run_lsn_waiters(Client& c, Generator& gen, const Args& a, int n, int* near_ok,
                            int* far_timeouts) {
  constexpr int kBatches = 8;
  std::vector<std::vector<std::uint8_t>> batches;
  std::vector<Lsn> batch_ends;
  Lsn at = c.end_lsn();
  for (int i = 0; i < kBatches; ++i) {
    batches.push_back(gen.next_batch());
    at += batches.back().size();
    batch_ends.push_back(at);
  }
  const Lsn last = at;
  const auto far_timeout = std::chrono::milliseconds(a.commit_timeout_ms);

  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  std::vector<bool> far(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int w = 0; w < n; ++w) {
    far[static_cast<std::size_t>(w)] = w % 4 == 3;
    Lsn target = far[static_cast<std::size_t>(w)]
                     ? last + 8 * static_cast<std::uint64_t>(w + 1)
                     : batch_ends[static_cast<std::size_t>(w % kBatches)] - (w % 2);
    threads.emplace_back([&, w, target] {
      bool is_far = far[static_cast<std::size_t>(w)];
      {
        std::lock_guard lk(mu);
        ++started;
      }
      cv.notify_all();
      auto t0 = std::chrono::steady_clock::now();
      auto st = c.wait_committed(target, is_far ? far_timeout : std::chrono::milliseconds(30000));
      auto waited = std::chrono::steady_clock::now() - t0;
      Lsn commit = c.commit_lsn();
      std::string& err = errors[static_cast<std::size_t>(w)];
      if (is_far) {
        if (st || st.error().code != wq::base::ErrorCode::kTimeout) {
          err = fmt::format("waiter {} at {} past the end {}: {} instead of a timeout", w,
                            target.to_string(), last.to_string(),
                            st ? std::string("ok") : st.error().message);
        } else if (waited < far_timeout) {
          err = fmt::format("waiter {} at {} timed out early", w, target.to_string());
        }
      } else if (!st) {
        err = fmt::format("waiter {} at {}: {}", w, target.to_string(), st.error().message);
      } else if (commit < target) {
        err = fmt::format("waiter {} at {} returned ok at commit_lsn {}", w, target.to_string(),
                          commit.to_string());
      }
    });
  }
  {
    std::unique_lock lk(mu);
    cv.wait_for(lk, 30s, [&] { return started == n; });
  }
  std::string failure;
  for (int i = 0; i < kBatches && failure.empty(); ++i) {
    auto r = c.append(batches[static_cast<std::size_t>(i)], 30s);
    if (!r) {
      failure = fmt::format("append: {}", r.error().message);
    } else if (*r != batch_ends[static_cast<std::size_t>(i)]) {
      failure = fmt::format("append returned {}, expected {}", r->to_string(),
                            batch_ends[static_cast<std::size_t>(i)].to_string());
    }
  }
  for (auto& t : threads) t.join();
  if (!failure.empty()) return failure;
  *near_ok = 0;
  *far_timeouts = 0;
  for (int w = 0; w < n; ++w) {
    if (!errors[static_cast<std::size_t>(w)].empty()) return errors[static_cast<std::size_t>(w)];
    ++(far[static_cast<std::size_t>(w)] ? *far_timeouts : *near_ok);
  }
  return "";
}

// Appends `records` records; `waiters` threads wait_committed on the batch ends
// at the same time, and every batch also gets an on_committed callback whose
// calls must come in LSN order.
int run_write(Client& c, const wq::proposer::Elected& e, const Args& a) {
  Generator gen(e, a);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Lsn> ends;  // batch ends, ascending
  bool writing = true;
  std::atomic<std::uint64_t> waited{0};
  std::atomic<bool> bad{false};
  std::string bad_reason;
  auto set_bad = [&](std::string why) {
    std::lock_guard lk(mu);
    if (!bad.exchange(true)) bad_reason = std::move(why);
  };

  std::mutex cb_mu;
  std::condition_variable cb_cv;  // a callback ran
  std::vector<Lsn> cb_order;
  std::uint64_t cb_errors = 0;

  std::vector<std::thread> threads;
  for (int w = 0; w < a.waiters; ++w) {
    threads.emplace_back([&, w] {
      // Batches w, w + waiters, ...; bounded by the number of batches written.
      for (std::size_t k = static_cast<std::size_t>(w);; k += static_cast<std::size_t>(a.waiters)) {
        Lsn target;
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return k < ends.size() || !writing; });
          if (k >= ends.size()) return;
          target = ends[k];
        }
        auto st = c.wait_committed(target, 30s);
        if (!st) {
          set_bad(fmt::format("wait_committed({}) in waiter {}: {}", target.to_string(), w,
                              st.error().message));
          return;
        }
        if (c.commit_lsn() < target) {
          set_bad(fmt::format("wait_committed({}) returned with commit_lsn {}", target.to_string(),
                              c.commit_lsn().to_string()));
          return;
        }
        ++waited;
      }
    });
  }

  // Misuse the library can see: at a page boundary, bytes written for another
  // page (here the next one) are refused and change nothing.
  std::string misuse = "not_page_aligned";
  if (wq::wal::is_page_aligned(c.end_lsn())) {
    wq::wal::WalWriter wrong(c.end_lsn() + wq::wal::kBlockSize, 1, a.system_id);
    wrong.append(wq::wal::RecordBuilder(wq::wal::RM_XLOG_ID, wq::wal::XLOG_NOOP));
    Lsn before = c.end_lsn();
    auto r = c.append(wrong.take_bytes(), 1s);
    if (r || r.error().code != wq::base::ErrorCode::kInvalidArgument || c.end_lsn() != before) {
      return fail("an append with the wrong page header was not refused");
    }
    misuse = "refused";
  }

  std::uint64_t batches = (a.records + a.batch_records - 1) / a.batch_records;
  for (std::uint64_t b = 0; b < batches && !bad; ++b) {
    auto bytes = gen.next_batch();
    Lsn expect = c.end_lsn() + bytes.size();
    auto r = c.append(bytes, 30s);
    if (!r) {
      set_bad(fmt::format("append: {}", r.error().message));
      break;
    }
    if (*r != expect || *r != gen.end()) {
      set_bad(fmt::format("append returned {} but the batch ends at {}", r->to_string(),
                          gen.end().to_string()));
      break;
    }
    c.on_committed(*r, [&cb_mu, &cb_cv, &cb_order, &cb_errors, end = *r](wq::base::Status st) {
      std::lock_guard lk(cb_mu);
      if (!st) ++cb_errors;
      cb_order.push_back(end);
      cb_cv.notify_all();
    });
    {
      std::lock_guard lk(mu);
      ends.push_back(*r);
    }
    cv.notify_all();
  }
  {
    std::lock_guard lk(mu);
    writing = false;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  if (bad) return fail(bad_reason);
  auto st = c.wait_committed(gen.end(), 30s);
  if (!st) return fail(fmt::format("final wait_committed: {}", st.error().message));
  // Every callback is queued before its LSN could be answered by the network
  // thread only after this point; wait (bounded) until all ran.
  {
    std::unique_lock lk(cb_mu);
    cb_cv.wait_for(lk, 3s, [&] { return cb_order.size() == ends.size(); });
    if (cb_order.size() != ends.size() || cb_errors != 0) {
      return fail(fmt::format("on_committed: {} of {} callbacks ran, {} with an error",
                              cb_order.size(), ends.size(), cb_errors));
    }
    if (!std::is_sorted(cb_order.begin(), cb_order.end())) {
      return fail("on_committed callbacks ran out of LSN order");
    }
  }
  if (waited != ends.size()) {
    return fail(fmt::format("{} waits of {} batches", waited.load(), ends.size()));
  }
  int near_ok = 0;
  int far_timeouts = 0;
  if (a.lsn_waiters > 0) {
    auto why = run_lsn_waiters(c, gen, a, a.lsn_waiters, &near_ok, &far_timeouts);
    if (!why.empty()) return fail("lsn waiters: " + why);
  }
  auto s = c.stats();
  say(fmt::format("done end={} last_record={} records={} commit={} callbacks={} waits={} "
                  "appended_bytes={} misuse={} lsn_waiters_ok={} lsn_waiters_timed_out={}",
                  gen.end().to_string(), gen.last_record().to_string(), gen.records(),
                  c.commit_lsn().to_string(), cb_order.size(), waited.load(), s.appended_bytes,
                  misuse, near_ok, far_timeouts));
  c.stop();
  // After stop every call reports it.
  auto after = c.wait_committed(gen.end() + 8, 1s);
  if (after || after.error().message != "client stopped") {
    return fail("wait_committed after stop() did not fail with \"client stopped\"");
  }
  return 0;
}

std::string stats_line(Client& c) {
  auto s = c.stats();
  std::string line = fmt::format("stats state={} commit={} end={} reconnects={}",
                                 wq::proposer::state_name(s.state), s.commit_lsn.to_string(),
                                 s.end_lsn.to_string(), s.reconnects);
  for (std::size_t i = 0; i < s.safekeepers.size(); ++i) {
    line += fmt::format(" sk{}={}:{}", i + 1, s.safekeepers[i].connected ? 1 : 0,
                        s.safekeepers[i].acked_flush_lsn.to_string());
  }
  return line;
}

// Appends one batch at a time and waits for its commit, reporting every
// commit, timeout and refusal, until "quit" (or EOF) on stdin.
int run_stream(Client& c, const wq::proposer::Elected& e, const Args& a) {
  Generator gen(e, a);
  // Static: the detached reader may outlive this call.
  static std::atomic<bool> quit{false};
  static std::mutex quit_mu;
  static std::condition_variable quit_cv;
  std::thread input([] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "quit") break;
    }
    {
      std::lock_guard lk(quit_mu);
      quit = true;
    }
    quit_cv.notify_all();
  });
  // Idle until the next stats line is due or "quit" arrives, whichever is first.
  auto idle = [] {
    std::unique_lock lk(quit_mu);
    quit_cv.wait_for(lk, 20ms, [] { return quit.load(); });
  };
  input.detach();  // blocked in getline until stdin closes; the process exits anyway
  auto last_stats = std::chrono::steady_clock::now() - 1s;
  auto last_commit_line = last_stats;
  std::optional<Lsn> waiting;
  std::vector<std::uint8_t> held;  // --pipelined: a batch append() timed out on, retried
  Lsn reported;
  bool refused = false;
  // Bounded by `records` batches plus the time until quit.
  while (!quit) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_stats >= 100ms) {
      say(stats_line(c));
      last_stats = now;
    }
    if (a.pipelined) {
      // Appends without waiting for commits: back-pressure is all that stops it.
      Lsn commit = c.commit_lsn();
      if (commit > reported && now - last_commit_line >= 20ms) {
        say(fmt::format("committed lsn={}", commit.to_string()));
        reported = commit;
        last_commit_line = now;
      }
      if (held.empty()) {
        if (gen.records() >= a.records) {
          idle();
          continue;
        }
        held = gen.next_batch();
      }
      auto r = c.append(held, std::chrono::milliseconds(a.commit_timeout_ms));
      if (r) {
        held.clear();
        continue;
      }
      if (r.error().code == wq::base::ErrorCode::kTimeout) {
        say(fmt::format("append_timeout end={} commit={}", c.end_lsn().to_string(),
                        c.commit_lsn().to_string()));
        continue;
      }
      say(fmt::format("refused error=\"{}\" superseded_by={}", r.error().message,
                      c.superseded_by() ? c.superseded_by()->value() : 0));
      refused = true;
      break;
    }
    if (!waiting) {
      if (gen.records() >= a.records) {
        idle();  // only report stats until quit
        continue;
      }
      auto r = c.append(gen.next_batch(), std::chrono::milliseconds(a.commit_timeout_ms));
      if (!r) {
        if (r.error().code == wq::base::ErrorCode::kTimeout) {
          return fail(fmt::format("append timed out: {}", r.error().message));
        }
        say(fmt::format("refused error=\"{}\" superseded_by={}", r.error().message,
                        c.superseded_by() ? c.superseded_by()->value() : 0));
        refused = true;
        break;
      }
      waiting = *r;
    }
    auto st = c.wait_committed(*waiting, std::chrono::milliseconds(a.commit_timeout_ms));
    if (st) {
      now = std::chrono::steady_clock::now();
      if (now - last_commit_line >= 20ms) {
        say(fmt::format("committed lsn={}", waiting->to_string()));
        last_commit_line = now;
      }
      waiting.reset();
      continue;
    }
    if (st.error().code == wq::base::ErrorCode::kTimeout) {
      say(fmt::format("commit_timeout lsn={} commit={}", waiting->to_string(),
                      c.commit_lsn().to_string()));
      continue;
    }
    say(fmt::format("refused error=\"{}\" superseded_by={}", st.error().message,
                    c.superseded_by() ? c.superseded_by()->value() : 0));
    refused = true;
    break;
  }
  if (refused) {
    // Refused: every later call must fail the same way, and state() says why.
    auto ap = c.append(gen.next_batch(), 1s);
    auto we = c.wait_elected(1s);
    say(fmt::format("after_refusal state={} append=\"{}\" wait_elected=\"{}\"",
                    wq::proposer::state_name(c.state()), ap ? "ok" : ap.error().message,
                    we ? "ok" : we.error().message));
    say(stats_line(c));
    return 3;
  }
  say(stats_line(c));
  c.stop();
  say(fmt::format("stopped end={} last_record={} commit={}", gen.end().to_string(),
                  gen.last_record().to_string(), c.commit_lsn().to_string()));
  return 0;
}

// Throughput (pipelined appends, one final wait) and commit latency (one batch
// in flight). Printed, never asserted.
int run_bench(Client& c, const wq::proposer::Elected& e, const Args& a) {
  Generator gen(e, a);
  auto t0 = std::chrono::steady_clock::now();
  Lsn start = c.end_lsn();
  while (gen.records() < a.records) {
    auto r = c.append(gen.next_batch(), 30s);
    if (!r) return fail(fmt::format("append: {}", r.error().message));
  }
  auto st = c.wait_committed(gen.end(), 60s);
  if (!st) return fail(st.error().message);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double mb = static_cast<double>(gen.end() - start) / 1e6;
  std::uint64_t stream_records = gen.records();
  std::vector<double> lat_us;
  for (int i = 0; i < 500; ++i) {
    auto t1 = std::chrono::steady_clock::now();
    auto r = c.append(gen.next_batch(), 30s);
    if (!r) return fail(fmt::format("append: {}", r.error().message));
    auto w = c.wait_committed(*r, 30s);
    if (!w) return fail(w.error().message);
    lat_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t1).count());
  }
  std::sort(lat_us.begin(), lat_us.end());
  say(fmt::format("bench records={} record_bytes={} batch_records={} wal_mb={:.1f} seconds={:.3f} "
                  "mb_per_s={:.1f} commit_us_p50={:.0f} commit_us_p99={:.0f} (one batch in flight, "
                  "{} commits)",
                  stream_records, a.record_bytes, a.batch_records, mb, secs, mb / secs,
                  lat_us[lat_us.size() / 2], lat_us[lat_us.size() * 99 / 100], lat_us.size()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"proposer_check: test compute for the proposer library", "proposer_check"};
  Args a;
  app.add_option("--mode", a.mode, "write|stream|bench")->check(CLI::IsMember({"write", "stream", "bench"}));
  app.add_option("--safekeepers", a.safekeepers, "H:P,H:P,...")->required();
  app.add_option("--tenant", a.tenant)->required();
  app.add_option("--timeline", a.timeline)->required();
  app.add_option("--proposer-id", a.proposer_id);
  app.add_option("--system-id", a.system_id);
  app.add_option("--elect-timeout-ms", a.elect_timeout_ms);
  app.add_option("--records", a.records);
  app.add_option("--record-bytes", a.record_bytes);
  app.add_option("--batch-records", a.batch_records)->check(CLI::Range(1, 100000));
  app.add_option("--waiters", a.waiters)->check(CLI::Range(1, 64));
  app.add_option("--lsn-waiters", a.lsn_waiters,
                 "write mode: then this many waiters at different LSNs of 8 more batches")
      ->check(CLI::Range(0, 256));
  app.add_option("--commit-timeout-ms", a.commit_timeout_ms);
  app.add_flag("--pipelined", a.pipelined, "stream: append without waiting for each commit");
  app.add_option("--window-bytes", a.window_bytes);
  app.add_option("--expect-term-start", a.expect_term_start);
  app.add_option("--expect-prev", a.expect_prev);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "spdlog level on stderr (debug shows the client's detail)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("proposer_check"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  auto client = make_client(a);
  if (!client) return fail(client.error().message);
  Client& c = **client;
  auto e = c.wait_elected(std::chrono::milliseconds(a.elect_timeout_ms));
  if (!e) return fail(fmt::format("wait_elected: {}", e.error().message));
  say(elected_line(*e));
  if (!a.expect_term_start.empty() && e->term_start_lsn.to_string() != a.expect_term_start) {
    return fail(fmt::format("term_start_lsn {} but expected {}", e->term_start_lsn.to_string(),
                            a.expect_term_start));
  }
  if (!a.expect_prev.empty() && e->prev_record_lsn.to_string() != a.expect_prev) {
    return fail(fmt::format("prev_record_lsn {} but expected {}", e->prev_record_lsn.to_string(),
                            a.expect_prev));
  }
  if (a.mode == "write") return run_write(c, *e, a);
  if (a.mode == "stream") return run_stream(c, *e, a);
  return run_bench(c, *e, a);
}
