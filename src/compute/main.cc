// walquorum-compute: the synthetic compute. Elects itself through
// proposer::Client, loads its relations, then runs N clients of TPC-C-like
// transactions through the Workload engine (one WAL insert position under a
// mutex, like PostgreSQL's WAL insert lock). A flusher thread hands the WAL to
// the proposer in record-aligned chunks; each client waits for quorum commit
// of its commit record outside the lock. The main thread checkpoints, switches
// full_page_writes when asked, prints a progress line a second on stderr and
// the summary on stdout. An optional truth journal goes to --truth-dir from a
// background thread (no fsync: it is a test oracle, and only entries at or
// below the commit LSN matter to it), with <truth-dir>/committed, the commit
// LSN up to which the journal is complete, refreshed twice a second.
// `walquorum-compute verify ...` is the verify subcommand (verify.h).
//
// --history FILE: one line per acknowledged commit, appended with one write(2)
// right after its quorum commit is known, in ack order:
//   <start X/Y> <end X/Y> <crc32c, 8 lowercase hex digits>
// [start, end) is the commit record's span in the WAL stream and the crc32c is
// over the stream bytes in that span as they lie in the segments (a page
// header included if the record crosses a page). After a kill -9 the file
// ends with whole lines except possibly a torn last one, which readers ignore.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "compute/histogram.h"
#include "compute/options.h"
#include "compute/truth.h"
#include "compute/verify.h"
#include "compute/workload.h"
#include "proposer/client.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using wq::compute::Histogram;
using wq::compute::Options;
using wq::wal::Lsn;

// Chunks handed to the proposer: a client moves the pending WAL into the
// queue once it reaches this size, so every append stays far below the
// proposer's window (a transaction is at most a few hundred KiB).
constexpr std::size_t kChunkBytes = 256 * 1024;
constexpr std::uint64_t kQueueBytesMax = 64ull * 1024 * 1024;  // back-pressure on inserters
constexpr std::size_t kTruthBatchesMax = 4096;                  // journal batches in flight
constexpr auto kLingerAfterCommit = 350ms;  // > 3 proposer heartbeats (proposer::Options: 10 ticks of 10 ms)

// SIGINT/SIGTERM end the run early, as if --duration had passed: the
// clients stop, the pending WAL is committed, the summary is printed.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int) { g_stop_signal = 1; }

std::int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Appends journal batches to <dir>/journal-<term>.bin from its own thread.
class TruthWriter {
 public:
  static std::unique_ptr<TruthWriter> open(const std::string& path, std::uint32_t spc, std::uint32_t db) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return nullptr;
    auto header = wq::compute::encode_journal_header(spc, db);
    if (std::fwrite(header.data(), 1, header.size(), f) != header.size()) {
      std::fclose(f);
      return nullptr;
    }
    return std::unique_ptr<TruthWriter>(new TruthWriter(f));
  }
  ~TruthWriter() { close(); }

  // Blocks while kTruthBatchesMax batches wait (the writer is behind).
  // `covers`: every entry at or below it is in this batch or an earlier one.
  void push(std::vector<wq::compute::JournalEntry> batch, Lsn covers) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return queue_.size() < kTruthBatchesMax || failed_; });
    if (failed_) return;
    queue_.push_back(Batch{std::move(batch), covers});
    cv_.notify_all();
  }
  // The LSN up to which the file holds (written and flushed to the kernel) every entry.
  Lsn complete() const { return Lsn(complete_.load()); }
  // Drains, closes; false if a write failed.
  bool close() {
    {
      std::lock_guard lk(mu_);
      if (closed_) return !failed_;
      closed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (std::fclose(file_) != 0) failed_ = true;
    return !failed_;
  }
  bool failed() {
    std::lock_guard lk(mu_);
    return failed_;
  }

 private:
  explicit TruthWriter(std::FILE* f) : file_(f), thread_([this] { run(); }) {}
  struct Batch {
    std::vector<wq::compute::JournalEntry> entries;
    Lsn covers;
  };
  void run() {
    std::vector<std::uint8_t> buf;
    auto last_flush = Clock::now();
    for (;;) {
      Batch batch;
      bool idle;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
        idle = queue_.empty();
      }
      cv_.notify_all();
      buf.resize(batch.entries.size() * wq::compute::kJournalEntrySize);
      for (std::size_t i = 0; i < batch.entries.size(); ++i) {
        wq::compute::encode_entry(batch.entries[i], buf.data() + i * wq::compute::kJournalEntrySize);
      }
      bool ok = std::fwrite(buf.data(), 1, buf.size(), file_) == buf.size();
      // Flushed when the queue drained or every 50 ms, so complete() keeps moving under load.
      if (ok && (idle || Clock::now() - last_flush >= 50ms)) {
        ok = std::fflush(file_) == 0;
        last_flush = Clock::now();
        if (ok) complete_.store(batch.covers.value());
      }
      if (!ok) {
        std::lock_guard lk(mu_);
        failed_ = true;
        cv_.notify_all();
        return;
      }
    }
  }
  std::FILE* file_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::atomic<std::uint64_t> complete_{0};
  bool closed_ = false;
  bool failed_ = false;
  std::thread thread_;
};

// Writes text to path through a temporary file and a rename, so readers see
// the old or the new content, never a torn one.
bool write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return false;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Refreshes <truth-dir>/committed twice a second from its own thread: the
// quorum-commit LSN, capped at what the journal file already holds.
class CommittedWriter {
 public:
  CommittedWriter(std::string path, wq::proposer::Client& client, TruthWriter& truth)
      : path_(std::move(path)), client_(client), truth_(truth), thread_([this] { run(); }) {}
  ~CommittedWriter() { stop(); }
  void stop() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool ok() const { return ok_.load(); }

 private:
  void run() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      Lsn c = std::min(client_.commit_lsn(), truth_.complete());
      if (c != last_ && c.is_valid()) {
        if (write_file_atomic(path_, c.to_string() + "\n")) {
          last_ = c;
        } else {
          ok_ = false;
        }
      }
      cv_.wait_for(lk, 500ms, [&] { return stop_; });
    }
  }
  std::string path_;
  wq::proposer::Client& client_;
  TruthWriter& truth_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  Lsn last_;
  std::atomic<bool> ok_{true};
  std::thread thread_;
};

struct PhaseStats {
  bool fpw = true;
  Clock::time_point start, end;
  Lsn start_lsn, end_lsn;
  std::uint64_t txns = 0, fpis = 0;
  Histogram commit_us, txn_us;
};

// Everything the threads share. wal_mu is the WAL insert lock.
struct Shared {
  Options opt;
  wq::proposer::Client* client = nullptr;
  wq::compute::Workload* workload = nullptr;  // guarded by wal_mu
  TruthWriter* truth = nullptr;
  int history_fd = -1;  // --history, O_APPEND

  std::mutex wal_mu;
  std::condition_variable wal_cv;  // queue changes: the flusher waits for chunks, inserters for room
  std::deque<std::vector<std::uint8_t>> queue;
  std::uint64_t queued_bytes = 0;
  bool flusher_exit = false;  // flush everything pending, then stop

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> superseded_term{0};
  std::mutex fail_mu;
  std::string failure;  // first hard failure (not superseded)

  std::atomic<std::uint64_t> switch_lsn{UINT64_MAX};  // commit records above it belong to phase 1

  std::mutex stats_mu;
  PhaseStats phases[2];
  Histogram interval_commit_us;
  std::uint64_t new_orders = 0, payments = 0;

  // Called with an error from the proposer: superseded, or a failure.
  void on_error(const wq::base::Error& e) {
    if (auto t = client->superseded_by()) {
      if (superseded_term.exchange(t->value()) == 0) {
        std::fprintf(stderr, "walquorum-compute: superseded by term %llu\n",
                     static_cast<unsigned long long>(t->value()));
      }
    } else {
      std::lock_guard lk(fail_mu);
      if (failure.empty()) failure = e.message;
    }
    stop = true;
    wal_cv.notify_all();
  }

  void on_history_error() {
    {
      std::lock_guard lk(fail_mu);
      if (failure.empty()) failure = fmt::format("writing the ack history {} failed", opt.history);
    }
    stop = true;
    wal_cv.notify_all();
  }

  // Moves the pending WAL into the queue (wal_mu held). Whole records only:
  // the workload's bytes always end on a record boundary between calls.
  void enqueue_locked() {
    if (workload->pending_bytes() == 0) return;
    auto bytes = workload->take_bytes();
    queued_bytes += bytes.size();
    queue.push_back(std::move(bytes));
    wal_cv.notify_all();
  }
  void push_journal_locked() {
    if (truth != nullptr) truth->push(workload->take_journal(), workload->end_lsn());
  }
  // Waits (wal_mu held via lk) until the queue has room or we stop.
  void wait_room(std::unique_lock<std::mutex>& lk) {
    wal_cv.wait(lk, [&] { return queued_bytes < kQueueBytesMax || stop.load(); });
  }
};

// Hands queued WAL to the proposer in order; when idle it takes whatever
// is pending, so a lone commit is sent at once (group commit otherwise).
void flusher(Shared& s) {
  auto timeout = std::chrono::milliseconds(s.opt.commit_timeout_ms);
  for (;;) {
    std::vector<std::uint8_t> chunk;
    {
      std::unique_lock lk(s.wal_mu);
      s.wal_cv.wait_for(lk, 5ms, [&] {
        return !s.queue.empty() || s.workload->pending_bytes() > 0 || s.flusher_exit ||
               s.superseded_term.load() != 0;
      });
      if (s.superseded_term.load() != 0) return;
      if (s.queue.empty()) s.enqueue_locked();
      if (s.queue.empty()) {
        if (s.flusher_exit) return;
        continue;
      }
      chunk = std::move(s.queue.front());
      s.queue.pop_front();
    }
    auto r = s.client->append(chunk, timeout);
    {
      std::lock_guard lk(s.wal_mu);
      s.queued_bytes -= chunk.size();
    }
    s.wal_cv.notify_all();
    if (!r) {
      s.on_error(r.error());
      // Nothing more can be written; drop the rest so waiters stop.
      std::lock_guard lk(s.wal_mu);
      s.queue.clear();
      s.queued_bytes = 0;
      return;
    }
  }
}

void client_loop(Shared& s, std::uint32_t id) {
  auto timeout = std::chrono::milliseconds(s.opt.commit_timeout_ms);
  std::uint64_t n = 0;
  while (!s.stop.load()) {
    std::uint64_t seed = wq::compute::mix64(s.opt.seed * 0x9E3779B97F4A7C15ull + (std::uint64_t{id} << 40) + n++);
    auto t0 = Clock::now();
    wq::compute::TxnResult res;
    Clock::time_point t_commit;
    {
      std::unique_lock lk(s.wal_mu);
      s.wait_room(lk);
      if (s.stop.load()) break;
      res = s.workload->run_txn(seed, unix_us());
      s.push_journal_locked();
      if (s.workload->pending_bytes() >= kChunkBytes) s.enqueue_locked();
      t_commit = Clock::now();
    }
    s.wal_cv.notify_all();
    auto st = s.client->wait_committed(res.commit_end, timeout);
    if (!st) {
      s.on_error(st.error());
      break;
    }
    if (s.history_fd >= 0) {
      std::string line = fmt::format("{} {} {:08x}\n", res.commit_start, res.commit_end, res.commit_crc);
      if (::write(s.history_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        s.on_history_error();
        break;
      }
    }
    auto t1 = Clock::now();
    auto commit_us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t_commit).count());
    auto txn_us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
    int phase = res.commit_end.value() > s.switch_lsn.load() ? 1 : 0;
    std::lock_guard lk(s.stats_mu);
    PhaseStats& p = s.phases[phase];
    p.txns += 1;
    p.fpis += res.fpis;
    p.commit_us.record(commit_us);
    p.txn_us.record(txn_us);
    s.interval_commit_us.record(commit_us);
    (res.new_order ? s.new_orders : s.payments) += 1;
  }
}

std::string phase_json(const PhaseStats& p) {
  double secs = std::chrono::duration<double>(p.end - p.start).count();
  std::uint64_t wal = p.end_lsn - p.start_lsn;
  return fmt::format(
      "{{\"fpw\":{},\"seconds\":{:.3f},\"txns\":{},\"txn_per_s\":{:.1f},\"wal_bytes\":{},"
      "\"wal_bytes_per_txn\":{:.1f},\"commit_p50_us\":{},\"commit_p99_us\":{},\"fpi_count\":{},"
      "\"start_lsn\":\"{}\",\"end_lsn\":\"{}\"}}",
      p.fpw ? "true" : "false", secs, p.txns, secs > 0 ? static_cast<double>(p.txns) / secs : 0.0, wal,
      p.txns ? static_cast<double>(wal) / static_cast<double>(p.txns) : 0.0, p.commit_us.quantile(0.5),
      p.commit_us.quantile(0.99), p.fpis, p.start_lsn, p.end_lsn);
}

int run(const Options& opt) {
  wq::proposer::Options po;
  po.safekeepers = opt.safekeepers;
  auto tenant = wq::core::Id128::parse_hex(opt.tenant);
  auto timeline = wq::core::Id128::parse_hex(opt.timeline);
  if (!tenant || !timeline) {
    std::fprintf(stderr, "walquorum-compute: --tenant and --timeline must be 32 hex digits\n");
    return 2;
  }
  po.timeline = {*tenant, *timeline};
  po.proposer_id = opt.proposer_id;
  po.system_id = opt.system_id;
  auto started = wq::proposer::Client::start(po);
  if (!started) {
    std::fprintf(stderr, "walquorum-compute: %s\n", started.error().message.c_str());
    return 2;
  }
  std::unique_ptr<wq::proposer::Client> client = std::move(*started);
  auto elected = client->wait_elected(std::chrono::milliseconds(opt.commit_timeout_ms));
  if (!elected) {
    if (auto t = client->superseded_by()) {
      std::fprintf(stderr, "walquorum-compute: superseded by term %llu\n",
                   static_cast<unsigned long long>(t->value()));
      return 3;
    }
    std::fprintf(stderr, "walquorum-compute: not elected: %s\n", elected.error().message.c_str());
    return 1;
  }
  std::uint64_t term = elected->term.value();

  wq::compute::WorkloadConfig wc;
  wc.relations = opt.relations;
  wc.blocks = opt.blocks;
  wc.hot_blocks_pct = opt.hot_blocks_pct;
  wc.hot_access_pct = opt.hot_access_pct;
  // Relations of its own per term (512 relfilenodes each), so a compute
  // continuing a timeline needs no page written by an earlier one.
  wc.rel_base = static_cast<std::uint32_t>(16384 + (term % 8'000'000) * 512);
  wc.system_id = opt.system_id;
  wc.fpw = opt.fpw;
  wc.journal = !opt.truth_dir.empty();
  wc.first_xid = static_cast<std::uint32_t>(1000 + (term % 4000) * 1'000'000);
  wq::compute::Workload workload(wc, elected->term_start_lsn, elected->prev_record_lsn);

  std::unique_ptr<TruthWriter> truth;
  if (!opt.truth_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.truth_dir, ec);
    std::string path = fmt::format("{}/journal-{}.bin", opt.truth_dir, term);
    truth = TruthWriter::open(path, wc.spc, wc.db);
    if (!truth) {
      std::fprintf(stderr, "walquorum-compute: cannot write the truth journal %s\n", path.c_str());
      return 1;
    }
    if (!write_file_atomic(opt.truth_dir + "/timeline", opt.tenant + " " + opt.timeline + "\n") ||
        !write_file_atomic(fmt::format("{}/term-{}.start", opt.truth_dir, term),
                           elected->term_start_lsn.to_string() + "\n")) {
      std::fprintf(stderr, "walquorum-compute: cannot write to the truth directory %s\n", opt.truth_dir.c_str());
      return 1;
    }
  }
  std::unique_ptr<CommittedWriter> committed_writer;
  if (truth) committed_writer = std::make_unique<CommittedWriter>(opt.truth_dir + "/committed", *client, *truth);
  int history_fd = -1;
  if (!opt.history.empty()) {
    history_fd = ::open(opt.history.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (history_fd < 0) {
      std::fprintf(stderr, "walquorum-compute: cannot open the ack history %s\n", opt.history.c_str());
      return 1;
    }
  }

  Shared s;
  s.opt = opt;
  s.client = client.get();
  s.workload = &workload;
  s.truth = truth.get();
  s.history_fd = history_fd;
  std::thread flush_thread([&] { flusher(s); });

  // Load: every data block as a full image (PostgreSQL's log_newpage), then a checkpoint.
  auto load_t0 = Clock::now();
  std::uint64_t load_blocks = workload.blocks_to_load();
  Lsn load_end;
  {
    std::unique_lock lk(s.wal_mu);
    while (workload.blocks_to_load() > 0 && !s.stop.load()) {
      workload.load_step();
      s.push_journal_locked();
      if (workload.pending_bytes() >= kChunkBytes) {
        s.enqueue_locked();
        s.wait_room(lk);
      }
    }
    workload.checkpoint(unix_us());
    load_end = workload.end_lsn();
    s.enqueue_locked();
  }
  std::uint64_t checkpoints = 1;
  if (!s.stop.load()) {
    auto st = client->wait_committed(load_end, std::chrono::milliseconds(opt.commit_timeout_ms) * 10);
    if (!st) s.on_error(st.error());
  }
  double load_s = seconds_since(load_t0);
  if (!s.stop.load()) {
    std::fprintf(stderr, "walquorum-compute: term %llu, loaded %llu blocks (%.1f MB of WAL) in %.1f s\n",
                 static_cast<unsigned long long>(term), static_cast<unsigned long long>(load_blocks),
                 static_cast<double>(load_end - elected->term_start_lsn) / 1e6, load_s);
  }

  auto run_t0 = Clock::now();
  s.phases[0].fpw = opt.fpw;
  s.phases[0].start = run_t0;
  s.phases[0].start_lsn = load_end;
  bool switched = false;
  std::vector<std::thread> clients;
  for (std::uint32_t i = 0; i < opt.clients && !s.stop.load(); ++i) {
    clients.emplace_back([&s, i] { client_loop(s, i); });
  }
  auto last_cp = run_t0;
  auto last_progress = run_t0;
  std::uint64_t last_txns = 0;
  Lsn last_commit = client->commit_lsn();
  // Bounded by --duration (each pass sleeps up to 50 ms).
  while (!s.stop.load() && seconds_since(run_t0) < opt.duration_s && g_stop_signal == 0) {
    std::this_thread::sleep_for(std::min(50ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::duration<double>(opt.duration_s) -
                                                   (Clock::now() - run_t0)) + 1ms));
    auto now = Clock::now();
    if (std::chrono::duration<double>(now - last_cp).count() >= opt.checkpoint_interval_s) {
      std::lock_guard lk(s.wal_mu);
      workload.checkpoint(unix_us());
      ++checkpoints;
      last_cp = now;
      s.wal_cv.notify_all();
    }
    if (opt.fpw_switch_after_s && !switched && seconds_since(run_t0) >= *opt.fpw_switch_after_s) {
      std::lock_guard lk(s.wal_mu);
      Lsn end = workload.set_fpw(!opt.fpw);
      s.switch_lsn = end.value();
      switched = true;
      std::lock_guard sl(s.stats_mu);
      s.phases[0].end = now;
      s.phases[0].end_lsn = end;
      s.phases[1].fpw = !opt.fpw;
      s.phases[1].start = now;
      s.phases[1].start_lsn = end;
      std::fprintf(stderr, "walquorum-compute: full_page_writes %s at %s (XLOG_FPW_CHANGE)\n",
                   opt.fpw ? "off" : "on", end.to_string().c_str());
    }
    if (now - last_progress >= 1s) {
      double dt = std::chrono::duration<double>(now - last_progress).count();
      Lsn commit = client->commit_lsn();
      std::uint64_t txns;
      std::uint64_t p50, p99;
      {
        std::lock_guard lk(s.stats_mu);
        txns = s.phases[0].txns + s.phases[1].txns;
        p50 = s.interval_commit_us.quantile(0.5);
        p99 = s.interval_commit_us.quantile(0.99);
        s.interval_commit_us.clear();
      }
      std::uint64_t dtx = txns - last_txns;
      std::uint64_t dwal = commit - last_commit;
      std::fprintf(stderr,
                   "walquorum-compute: %5.1fs txn/s=%.0f WAL MB/s=%.2f WAL bytes/txn=%.0f commit p50=%lluus "
                   "p99=%lluus fpw=%s\n",
                   seconds_since(run_t0), static_cast<double>(dtx) / dt, static_cast<double>(dwal) / dt / 1e6,
                   dtx ? static_cast<double>(dwal) / static_cast<double>(dtx) : 0.0,
                   static_cast<unsigned long long>(p50), static_cast<unsigned long long>(p99),
                   workload.fpw() ? "on" : "off");
      last_progress = now;
      last_txns = txns;
      last_commit = commit;
    }
  }
  s.stop = true;
  s.wal_cv.notify_all();
  for (auto& t : clients) t.join();
  auto run_end = Clock::now();
  Lsn end, last_record;
  {
    std::lock_guard lk(s.wal_mu);
    end = workload.end_lsn();
    last_record = workload.prev_record();
    s.flusher_exit = true;
    s.wal_cv.notify_all();
  }
  flush_thread.join();
  if (s.superseded_term.load() == 0) {
    auto st = client->wait_committed(end, std::chrono::milliseconds(opt.commit_timeout_ms));
    if (!st) {
      s.on_error(st.error());
    } else {
      // The last commit LSN reaches the safekeepers outside the quorum only
      // with the next message: linger for a few heartbeats (100 ms each) so
      // every connected safekeeper learns it and a learner following any of
      // them gets the whole committed WAL (it streams up to its commit LSN only).
      std::this_thread::sleep_for(kLingerAfterCommit);
    }
  }
  Lsn commit = client->commit_lsn();
  if (committed_writer) committed_writer->stop();
  client->stop();
  bool truth_ok = truth ? truth->close() : true;
  if (committed_writer) {
    // The journal is complete now: the commit LSN itself.
    truth_ok = truth_ok && committed_writer->ok() && (!commit.is_valid() ||
               write_file_atomic(opt.truth_dir + "/committed", commit.to_string() + "\n"));
  }
  if (history_fd >= 0 && ::close(history_fd) != 0) {
    std::lock_guard lk(s.fail_mu);
    if (s.failure.empty()) s.failure = fmt::format("closing the ack history {} failed", opt.history);
  }

  PhaseStats& last = s.phases[switched ? 1 : 0];
  last.end = run_end;
  last.end_lsn = end;
  PhaseStats all;
  all.fpw = opt.fpw;
  all.start = run_t0;
  all.end = run_end;
  all.start_lsn = load_end;
  all.end_lsn = end;
  for (int i = 0; i <= (switched ? 1 : 0); ++i) {
    all.txns += s.phases[i].txns;
    all.fpis += s.phases[i].fpis;
    all.commit_us.merge(s.phases[i].commit_us);
    all.txn_us.merge(s.phases[i].txn_us);
  }
  double secs = std::chrono::duration<double>(run_end - run_t0).count();
  std::uint64_t wal = end - load_end;
  std::string phases = phase_json(s.phases[0]);
  if (switched) phases += "," + phase_json(s.phases[1]);
  std::uint64_t sup = s.superseded_term.load();
  if (opt.json) {
    std::printf(
        "{\"term\":%llu,\"superseded_by\":%llu,\"clients\":%u,\"fpw\":%s,\"seconds\":%.3f,\"txns\":%llu,"
        "\"new_order\":%llu,\"payment\":%llu,\"txn_per_s\":%.1f,\"wal_bytes\":%llu,\"wal_bytes_per_txn\":%.1f,"
        "\"wal_mb_per_s\":%.3f,\"commit_p50_us\":%llu,\"commit_p99_us\":%llu,\"txn_p50_us\":%llu,"
        "\"txn_p99_us\":%llu,\"fpi_count\":%llu,\"fpi_per_txn\":%.3f,\"checkpoints\":%llu,"
        "\"load_blocks\":%llu,\"load_wal_bytes\":%llu,\"load_seconds\":%.3f,\"rel_base\":%u,\"relations\":%u,"
        "\"blocks\":%u,\"start_lsn\":\"%s\",\"run_start_lsn\":\"%s\",\"end_lsn\":\"%s\",\"last_record_lsn\":\"%s\","
        "\"commit_lsn\":\"%s\",\"phases\":[%s]}\n",
        static_cast<unsigned long long>(term), static_cast<unsigned long long>(sup), opt.clients,
        opt.fpw ? "true" : "false", secs, static_cast<unsigned long long>(all.txns),
        static_cast<unsigned long long>(s.new_orders), static_cast<unsigned long long>(s.payments),
        secs > 0 ? static_cast<double>(all.txns) / secs : 0.0, static_cast<unsigned long long>(wal),
        all.txns ? static_cast<double>(wal) / static_cast<double>(all.txns) : 0.0,
        secs > 0 ? static_cast<double>(wal) / secs / 1e6 : 0.0,
        static_cast<unsigned long long>(all.commit_us.quantile(0.5)),
        static_cast<unsigned long long>(all.commit_us.quantile(0.99)),
        static_cast<unsigned long long>(all.txn_us.quantile(0.5)),
        static_cast<unsigned long long>(all.txn_us.quantile(0.99)), static_cast<unsigned long long>(all.fpis),
        all.txns ? static_cast<double>(all.fpis) / static_cast<double>(all.txns) : 0.0,
        static_cast<unsigned long long>(checkpoints), static_cast<unsigned long long>(load_blocks),
        static_cast<unsigned long long>(load_end - elected->term_start_lsn), load_s, wc.rel_base, opt.relations,
        opt.blocks, elected->term_start_lsn.to_string().c_str(), load_end.to_string().c_str(),
        end.to_string().c_str(), last_record.to_string().c_str(), commit.to_string().c_str(), phases.c_str());
  } else {
    std::printf("term %llu: %llu transactions in %.1f s (%.1f txn/s, %llu New-Order, %llu Payment)\n",
                static_cast<unsigned long long>(term), static_cast<unsigned long long>(all.txns), secs,
                secs > 0 ? static_cast<double>(all.txns) / secs : 0.0,
                static_cast<unsigned long long>(s.new_orders), static_cast<unsigned long long>(s.payments));
    std::printf("WAL %llu bytes (%.1f bytes/txn, %.2f MB/s), %llu full-page images, %llu checkpoints\n",
                static_cast<unsigned long long>(wal),
                all.txns ? static_cast<double>(wal) / static_cast<double>(all.txns) : 0.0,
                secs > 0 ? static_cast<double>(wal) / secs / 1e6 : 0.0, static_cast<unsigned long long>(all.fpis),
                static_cast<unsigned long long>(checkpoints));
    std::printf("commit p50 %llu us, p99 %llu us\n", static_cast<unsigned long long>(all.commit_us.quantile(0.5)),
                static_cast<unsigned long long>(all.commit_us.quantile(0.99)));
    for (int i = 0; i <= (switched ? 1 : 0); ++i) {
      const PhaseStats& p = s.phases[i];
      double ps = std::chrono::duration<double>(p.end - p.start).count();
      std::printf("phase %d (fpw %s): %llu txns, %.1f txn/s, %.1f WAL bytes/txn, commit p50 %llu us p99 %llu us\n",
                  i, p.fpw ? "on" : "off", static_cast<unsigned long long>(p.txns),
                  ps > 0 ? static_cast<double>(p.txns) / ps : 0.0,
                  p.txns ? static_cast<double>(p.end_lsn - p.start_lsn) / static_cast<double>(p.txns) : 0.0,
                  static_cast<unsigned long long>(p.commit_us.quantile(0.5)),
                  static_cast<unsigned long long>(p.commit_us.quantile(0.99)));
    }
    std::printf("LSN: start %s, run %s, end %s (last record %s), commit %s\n",
                elected->term_start_lsn.to_string().c_str(), load_end.to_string().c_str(), end.to_string().c_str(),
                last_record.to_string().c_str(), commit.to_string().c_str());
  }
  std::fflush(stdout);
  if (sup != 0) return 3;
  if (!s.failure.empty()) {
    std::fprintf(stderr, "walquorum-compute: %s\n", s.failure.c_str());
    return 1;
  }
  if (!truth_ok) {
    std::fprintf(stderr, "walquorum-compute: writing the truth journal failed\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "verify") {
    return wq::compute::verify_main(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  auto parsed = wq::compute::parse_args(args);
  if (auto* exit = std::get_if<wq::compute::ParseExit>(&parsed)) {
    std::fprintf(exit->exit_code == 0 ? stdout : stderr, "%s\n", exit->text.c_str());
    return exit->exit_code;
  }
  const Options& opt = std::get<Options>(parsed);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  auto logger = spdlog::stderr_color_mt("compute");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(opt.log_level));
  return run(opt);
}
