// The safekeeper's disk thread and its group-commit policy (see io_thread.h).
#include "safekeeper/io_thread.h"

#include "base/assert.h"
#include "safekeeper/timeline.h"

namespace wq::safekeeper {

namespace {
std::size_t job_bytes(const IoJob& job) {
  std::size_t n = 0;
  for (const auto& a : job.actions) {
    if (const auto* w = std::get_if<core::WriteWal>(&a)) n += w->bytes.size();
  }
  return n;
}
}  // namespace

void IoThread::start() {
  WQ_ASSERT(!thread_.joinable(), "io thread started twice");
  thread_ = std::thread([this] { run(); });
}

void IoThread::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IoThread::push(IoJob job) {
  std::size_t bytes = job_bytes(job);
  std::unique_lock lock(mu_);
  // A single job larger than the byte bound still goes through once the queue is empty.
  not_full_.wait(lock, [&] {
    return stopping_ || (queue_.size() < options_.queue_jobs_max &&
                         (queue_.empty() || queue_bytes_ + bytes <= options_.queue_bytes_max));
  });
  queue_bytes_ += bytes;
  queue_.push_back(std::move(job));
  lock.unlock();
  not_empty_.notify_one();
}

void IoThread::run() {
  for (;;) {
    std::optional<IoJob> job;
    bool drained = false;
    {
      std::unique_lock lock(mu_);
      auto wake = std::chrono::steady_clock::now() + options_.housekeeping_interval;
      if (!dirty_.empty()) wake = std::chrono::steady_clock::now() + options_.sync_interval;
      not_empty_.wait_until(lock, wake, [&] { return !queue_.empty() || stopping_; });
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
        queue_bytes_ -= job_bytes(*job);
        drained = queue_.empty();
      } else if (stopping_) {
        break;
      } else {
        drained = true;
      }
    }
    not_full_.notify_all();
    if (job) {
      if (job->task) {
        job->task();
      } else {
        Timeline* tl = job->timeline.get();
        bool sync_now = tl->io_execute(*job);
        if (tl->io_dirty()) dirty_.insert(tl);
        if (sync_now) {
          tl->io_sync();
          dirty_.erase(tl);
        }
      }
    }
    sync_due(drained);
    auto now = std::chrono::steady_clock::now();
    if (now >= next_housekeeping_) {
      for (auto& t : timelines_) t->io_housekeeping();
      next_housekeeping_ = now + options_.housekeeping_interval;
    }
  }
  // Stopping: everything written becomes durable before the process ends.
  for (Timeline* tl : dirty_) tl->io_sync();
  dirty_.clear();
}

void IoThread::sync_due(bool drained) {
  if (dirty_.empty()) return;
  auto now = std::chrono::steady_clock::now();
  for (auto it = dirty_.begin(); it != dirty_.end();) {
    Timeline* tl = *it;
    // Group commit: one fdatasync covers every append that arrived while the
    // queue was busy; the timer bounds the wait under a never-draining queue.
    if (!tl->io_dirty()) {
      it = dirty_.erase(it);
    } else if (drained || now - tl->io_unsynced_since() >= options_.sync_interval) {
      tl->io_sync();
      it = dirty_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace wq::safekeeper
