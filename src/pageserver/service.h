// Service: the pageserver between its WAL receiver and its readers. The
// receiver thread feeds WAL bytes; they are decoded (wal::StreamDecoder),
// planned into page versions (ingest.h) and written to the PageStore in one
// batch per feed; a durable LSN is synced on a byte/time policy. The pushdown
// counter sends image requests to a background worker through a bounded FIFO
// queue: ingest blocks only when that queue is full. With pushdown on, the same
// queue carries every version of every page in WAL order, so the worker keeps
// the pages it has materialised current in an LRU cache (PageCache) by applying
// each delta as it arrives; an image request of a cached page is then a copy,
// not a LevelDB read of a base and a chain. Readers (GetPage) wait,
// with a timeout, until the LSN they ask for is readable: ingested, and not
// past a pending image request, so no read replays more than the threshold.
//
// Threads: feed()/sync_if_due()/begin_stream() from one receiver thread;
// get_page() and the status/metrics calls from any thread; one image worker
// started by start() and joined by stop().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <unordered_map>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "base/result.h"
#include "pageserver/ingest.h"
#include "pageserver/metrics.h"
#include "pageserver/store.h"
#include "wal/decoder.h"

namespace wq::pageserver {

struct ServiceOptions {
  Id tenant{};
  Id timeline{};
  std::uint32_t image_threshold = 64;   // 0: no pushdown (config.h holds the daemon's default)
  std::size_t image_queue_max = 1024;    // image requests pending
  std::size_t work_queue_max = 16384;    // all worker items (versions and image requests)
  std::size_t page_cache_pages = 16384;  // worker's materialised pages (8 KiB each); 0: none
  std::size_t pushdown_pages_max = 1u << 22;
  std::uint32_t sync_interval_ms = 100;
  std::uint64_t sync_bytes = 8u << 20;
  std::uint64_t seg_size = 16u << 20;
};

struct ServiceStatus {
  wal::Lsn ingest_lsn, durable_lsn, readable_lsn, server_wal_end, horizon;
  std::uint64_t records = 0, bytes = 0, images_generated = 0, fpis = 0, deltas = 0;
  std::size_t image_queue_depth = 0, image_queue_max = 0, getpage_waiting = 0;
  std::uint64_t ingest_blocked_on_queue = 0;
  std::uint64_t reads = 0, read_errors = 0, compacted_keys = 0;
  std::size_t work_queue_depth = 0, cached_pages = 0;
  std::uint64_t cache_hits = 0, cache_misses = 0;  // image requests served from the cache, from the store
  double deltas_replayed_max = 0;
  std::string last_error;
  std::uint32_t image_threshold = 0;
  std::array<std::uint64_t, 4> fpis_by_compression{};  // applied images: none, pglz, lz4, zstd
};

// The image worker's materialised pages: the newest version of each page it
// knows, as of `lsn`. Bounded, least recently used evicted first. One thread.
class PageCache {
 public:
  explicit PageCache(std::size_t capacity) : capacity_(capacity) {}
  struct Entry {
    PageId id;
    wal::Lsn lsn;
    wal::Page page;
  };
  // nullptr when absent; marks it recently used.
  Entry* find(const PageId& id);
  // Inserts or replaces (and evicts the oldest past capacity; nothing at capacity 0).
  void put(const PageId& id, wal::Lsn lsn, const wal::Page& page);
  void erase(const PageId& id);
  std::size_t size() const { return index_.size(); }

 private:
  struct Hash {
    std::size_t operator()(const PageId& p) const noexcept;
  };
  std::size_t capacity_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<PageId, std::list<Entry>::iterator, Hash> index_;
};

class Service {
 public:
  Service(PageStore& store, ServiceOptions options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  void start();  // the image worker
  void stop();   // writes the queued images (up to 30 s), then joins the worker

  // ---- receiver thread ----
  // Where the next stream must start: the end of the last ingested record, or
  // nullopt for an empty store (the receiver picks a page-aligned start).
  std::optional<wal::Lsn> resume_lsn() const;
  // A new stream whose first byte is at `start` (a record start, or a page boundary).
  void begin_stream(wal::Lsn start);
  // Bytes at LSN `at` (must continue the stream). kCorrupt when the bytes are
  // not valid WAL (the stream ends there; begin_stream() again to retry).
  base::Status feed(wal::Lsn at, std::span<const std::uint8_t> bytes);
  // Syncs when sync_bytes or sync_interval_ms have passed since the last sync
  // (or always when force); returns the durable LSN.
  wal::Lsn sync_if_due(bool force);
  void set_server_wal_end(wal::Lsn lsn);
  // The stream's next expected LSN.
  wal::Lsn stream_position() const;

  // ---- readers ----
  base::Result<Reconstructed> get_page(const PageId& page, wal::Lsn lsn,
                                       std::chrono::milliseconds timeout);
  // Waits until readable_lsn >= lsn; false on timeout.
  bool wait_readable(wal::Lsn lsn, std::chrono::milliseconds timeout);
  // Waits until the image queue is empty (tests, benchmarks); false on timeout.
  bool wait_images_done(std::chrono::milliseconds timeout);

  // Retention: compacts below horizon; returns keys deleted.
  std::uint64_t compact(wal::Lsn horizon);

  ServiceStatus status() const;
  std::string metrics_text() const;

 private:
  // In WAL order: every version of a page (so cached pages stay current) and
  // the image requests between them.
  struct WorkItem {
    enum Kind : std::uint8_t { kBase, kDelta, kForget, kImage };
    Kind kind;
    PageId page;
    wal::Lsn lsn;
    std::shared_ptr<const Version> version;  // kBase, kDelta
  };
  void worker_loop();
  void apply_item(const WorkItem& item, std::vector<PageStore::Image>& images);
  wal::Lsn readable_locked() const;

  PageStore& store_;
  const ServiceOptions opt_;

  // Receiver-thread state.
  std::optional<wal::StreamDecoder> decoder_;
  wal::Lsn fed_end_;
  PushdownCounter pushdown_;
  std::chrono::steady_clock::time_point last_sync_;
  std::uint64_t bytes_since_sync_ = 0;

  mutable std::mutex mu_;
  std::condition_variable changed_;     // ingest or images advanced
  std::condition_variable queue_space_; // the worker freed a slot
  std::deque<WorkItem> queue_;          // not yet taken by the worker; bounded by work_queue_max
  std::deque<wal::Lsn> image_lsns_;     // requested images not yet written; bounded by image_queue_max
  std::size_t in_flight_ = 0;           // items the worker took and has not finished
  std::atomic<std::uint64_t> cache_hits_{0}, cache_misses_{0};  // the worker's, read by status()
  std::size_t cached_pages_ = 0;
  PageCache cache_;                     // worker thread only
  bool stopping_ = false;
  wal::Lsn ingest_lsn_;                 // end of the last ingested record
  wal::Lsn durable_lsn_;
  wal::Lsn server_wal_end_;
  std::size_t waiting_readers_ = 0;
  std::string last_error_;
  std::uint64_t records_ = 0, bytes_ = 0, images_ = 0, fpis_ = 0, deltas_ = 0, blocked_ = 0;
  std::uint64_t reads_ = 0, read_errors_ = 0, compacted_ = 0;
  std::array<std::uint64_t, 4> by_compression_{};
  std::thread worker_;

  Histogram deltas_replayed_{{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}};
  Histogram getpage_seconds_{{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                              0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
};

}  // namespace wq::pageserver
