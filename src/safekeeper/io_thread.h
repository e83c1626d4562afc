// IoThread: the safekeeper's one dedicated disk thread (ARCHITECTURE.md §3).
// Every timeline hands it the acceptor's Actions as jobs; it executes them
// strictly in order (writes, control-state persists, truncations, reads, and
// the sends that follow them) and runs group commit: the WAL of a timeline is
// fdatasynced when the queue drains, when a written append has waited
// sync_interval_ms, or when an append crossed a segment end. Each sync's
// completion is posted back to the timeline's strand (Timeline::on_synced).
//
// The queue is bounded (jobs and WAL bytes): push() blocks the producer (the
// network thread) while it is full, which stops reading from sockets — TCP
// backpressure instead of unbounded memory.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/acceptor.h"

namespace wq::safekeeper {

class Timeline;

struct IoJob {
  std::shared_ptr<Timeline> timeline;  // null for a plain task
  std::uint64_t epoch = 0;             // the timeline's epoch when the actions were made
  std::uint64_t truncations = 0;       // the acceptor's truncation_count() then
  core::Actions actions;
  std::function<void()> task;          // run instead of actions (timeline creation)
};

class IoThread {
 public:
  struct Options {
    std::chrono::milliseconds sync_interval{5};
    std::size_t queue_jobs_max = 4096;
    std::size_t queue_bytes_max = 128 * 1024 * 1024;
    std::chrono::milliseconds housekeeping_interval{1000};  // disk use, retention
  };
  explicit IoThread(Options options) : options_(options) {}
  ~IoThread() { stop(); }

  void start();
  // Executes everything queued, syncs every timeline, joins.
  void stop();
  // Any thread. Blocks while the queue is over its bound.
  void push(IoJob job);
  // Timelines visited by housekeeping. Call before start() or from the I/O thread.
  void add_timeline(std::shared_ptr<Timeline> timeline) { timelines_.push_back(std::move(timeline)); }

 private:
  void run();
  void sync_due(bool drained);

  Options options_;
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<IoJob> queue_;
  std::size_t queue_bytes_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  // I/O-thread only.
  std::set<Timeline*> dirty_;
  std::vector<std::shared_ptr<Timeline>> timelines_;
  std::chrono::steady_clock::time_point next_housekeeping_{};
};

}  // namespace wq::safekeeper
