// Ingest, image worker and reads. See service.h.
#include "pageserver/service.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace wq::pageserver {

std::size_t PageCache::Hash::operator()(const PageId& p) const noexcept {
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  auto mix = [&](std::uint64_t v) {
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  };
  std::uint64_t t[4];
  std::memcpy(t, p.tenant.data(), 16);
  std::memcpy(t + 2, p.timeline.data(), 16);
  for (std::uint64_t v : t) mix(v);
  mix((static_cast<std::uint64_t>(p.spc) << 32) | p.db);
  mix((static_cast<std::uint64_t>(p.rel) << 32) | p.blk);
  mix(p.fork);
  return static_cast<std::size_t>(h);
}

PageCache::Entry* PageCache::find(const PageId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &*it->second;
}

void PageCache::put(const PageId& id, wal::Lsn lsn, const wal::Page& page) {
  if (capacity_ == 0) return;
  if (Entry* e = find(id)) {
    e->lsn = lsn;
    e->page = page;
    return;
  }
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().id);
    lru_.pop_back();
  }
  lru_.push_front(Entry{id, lsn, page});
  index_.emplace(id, lru_.begin());
}

void PageCache::erase(const PageId& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

Service::Service(PageStore& store, ServiceOptions options)
    : store_(store),
      opt_(options),
      pushdown_(options.image_threshold, options.pushdown_pages_max,
                [this](const PageId& page) {
                  return store_.deltas_since_newest_base(page, opt_.image_threshold);
                }),
      cache_(options.page_cache_pages) {
  WQ_ASSERT(opt_.image_queue_max > 0, "image queue of 0");
  WQ_ASSERT(opt_.work_queue_max > 0, "work queue of 0");
  if (auto d = store_.recorded_durable_lsn()) {
    ingest_lsn_ = *d;
    durable_lsn_ = *d;
  }
  last_sync_ = std::chrono::steady_clock::now();
}

Service::~Service() { stop(); }

void Service::start() {
  WQ_ASSERT(!worker_.joinable(), "image worker started twice");
  worker_ = std::thread([this] { worker_loop(); });
}

void Service::stop() {
  {
    std::unique_lock lock(mu_);
    // Pending images are written first (bounded by the queue): a restart has
    // no way to know a chain had reached the threshold.
    if (worker_.joinable()) {
      changed_.wait_for(lock, std::chrono::seconds(30),
                        [&] { return queue_.empty() && image_lsns_.empty() && in_flight_ == 0; });
    }
    stopping_ = true;
  }
  changed_.notify_all();
  queue_space_.notify_all();
  if (worker_.joinable()) worker_.join();
}

std::optional<wal::Lsn> Service::resume_lsn() const {
  std::lock_guard lock(mu_);
  if (!ingest_lsn_.is_valid()) return std::nullopt;
  return ingest_lsn_;
}

void Service::begin_stream(wal::Lsn start) {
  wal::DecoderOptions o;
  o.seg_size = opt_.seg_size;
  o.start_is_page_aligned = wal::is_page_aligned(start);
  decoder_.emplace(start, o);
  fed_end_ = start;
}

wal::Lsn Service::stream_position() const { return fed_end_; }

base::Status Service::feed(wal::Lsn at, std::span<const std::uint8_t> bytes) {
  WQ_ASSERT(decoder_.has_value(), "feed before begin_stream");
  if (at != fed_end_) {
    return base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("WAL arrived at {}, expected {}", at, fed_end_)};
  }
  decoder_->feed(bytes);
  fed_end_ = fed_end_ + bytes.size();
  std::vector<Put> puts;
  // Work for the image worker, in WAL order; `from_put` names the put whose
  // version it carries once the batch is written.
  std::vector<WorkItem> items;
  std::vector<std::size_t> from_put;
  const bool pushdown = opt_.image_threshold > 0;
  std::uint64_t records = 0, fpis = 0, deltas = 0;
  std::array<std::uint64_t, 4> by_compression{};
  wal::Lsn end;
  std::optional<base::Error> error;
  auto carry = [&](WorkItem::Kind kind, const Put& p) {
    items.push_back(WorkItem{kind, p.page, p.lsn, nullptr});
    from_put.push_back(kind == WorkItem::kForget ? SIZE_MAX : puts.size());
  };
  for (;;) {
    wal::DecodeStep step = decoder_->next();
    if (auto* rec = std::get_if<wal::DecodedRecord>(&step)) {
      ++records;
      end = rec->end_lsn;
      for (const wal::BlockRef& b : rec->blocks) {
        if (b.has_image && b.apply_image) ++by_compression[b.compression];
      }
      for (Put& p : plan_record(*rec, opt_.tenant, opt_.timeline)) {
        bool image = false;
        if (p.kind == KeyKind::kBase) {
          ++fpis;
          pushdown_.on_base(p.page);
          if (pushdown) carry(WorkItem::kBase, p);
        } else {
          ++deltas;
          // A chain through a record without redo here cannot be materialised: not counted.
          if (pushdown) carry(p.replayable ? WorkItem::kDelta : WorkItem::kForget, p);
          image = p.replayable && pushdown_.on_delta(p.page);
        }
        if (image) {
          items.push_back(WorkItem{WorkItem::kImage, p.page, p.lsn, nullptr});
          from_put.push_back(SIZE_MAX);
        }
        puts.push_back(std::move(p));
      }
      continue;
    }
    if (auto* eow = std::get_if<wal::EndOfWal>(&step)) {
      error = base::Error{base::ErrorCode::kCorrupt,
                          fmt::format("end of valid WAL at {}: {}", eow->lsn, eow->message)};
    }
    break;
  }
  // The versions are written before anyone can be told about them.
  store_.write(puts);
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (from_put[i] != SIZE_MAX) items[i].version = std::make_shared<const Version>(std::move(puts[from_put[i]].version));
  }
  bytes_since_sync_ += bytes.size();
  {
    std::unique_lock lock(mu_);
    records_ += records;
    bytes_ += bytes.size();
    fpis_ += fpis;
    deltas_ += deltas;
    for (std::size_t i = 0; i < by_compression.size(); ++i) by_compression_[i] += by_compression[i];
    if (end.is_valid()) ingest_lsn_ = std::max(ingest_lsn_, end);
    for (WorkItem& item : items) {
      const bool image = item.kind == WorkItem::kImage;
      auto has_room = [&] {
        return queue_.size() < opt_.work_queue_max && (!image || image_lsns_.size() < opt_.image_queue_max);
      };
      if (!has_room()) {
        ++blocked_;
        changed_.notify_all();
        // Ingest waits on image generation only here, through the bounded queue.
        queue_space_.wait(lock, [&] { return stopping_ || has_room(); });
      }
      if (stopping_) break;
      if (image) image_lsns_.push_back(item.lsn);
      queue_.push_back(std::move(item));
    }
    if (error) last_error_ = error->message;
  }
  changed_.notify_all();
  if (error) return base::Unexpected{*error};
  return base::Ok{};
}

wal::Lsn Service::sync_if_due(bool force) {
  auto now = std::chrono::steady_clock::now();
  wal::Lsn target;
  {
    std::lock_guard lock(mu_);
    target = ingest_lsn_;
    if (target <= durable_lsn_) return durable_lsn_;
  }
  bool due = force || bytes_since_sync_ >= opt_.sync_bytes ||
             now - last_sync_ >= std::chrono::milliseconds(opt_.sync_interval_ms);
  if (!due) {
    std::lock_guard lock(mu_);
    return durable_lsn_;
  }
  store_.sync_durable_lsn(target);  // every version up to target was written before this
  last_sync_ = now;
  bytes_since_sync_ = 0;
  std::lock_guard lock(mu_);
  durable_lsn_ = target;
  return durable_lsn_;
}

void Service::set_server_wal_end(wal::Lsn lsn) {
  std::lock_guard lock(mu_);
  server_wal_end_ = std::max(server_wal_end_, lsn);
}

wal::Lsn Service::readable_locked() const {
  // A read past a pending image's LSN would replay more than the threshold.
  if (!image_lsns_.empty()) return std::min(ingest_lsn_, image_lsns_.front());
  return ingest_lsn_;
}

bool Service::wait_readable(wal::Lsn lsn, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  ++waiting_readers_;
  bool ok = changed_.wait_for(lock, timeout, [&] { return stopping_ || readable_locked() >= lsn; });
  --waiting_readers_;
  return ok && !stopping_;
}

bool Service::wait_images_done(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    return stopping_ || (queue_.empty() && image_lsns_.empty() && in_flight_ == 0);
  });
}

base::Result<Reconstructed> Service::get_page(const PageId& page, wal::Lsn lsn,
                                              std::chrono::milliseconds timeout) {
  auto t0 = std::chrono::steady_clock::now();
  if (!wait_readable(lsn, timeout)) {
    std::lock_guard lock(mu_);
    ++read_errors_;
    return base::Unexpected{base::ErrorCode::kTimeout,
                            fmt::format("timed out after {} ms waiting for LSN {} (ingested to {})",
                                        timeout.count(), lsn, ingest_lsn_)};
  }
  auto r = store_.read(page, lsn);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
  getpage_seconds_.observe(took.count());
  std::lock_guard lock(mu_);
  ++reads_;
  if (!r) {
    ++read_errors_;
    return r;
  }
  deltas_replayed_.observe(static_cast<double>(r->deltas_replayed));
  return r;
}

void Service::apply_item(const WorkItem& item, std::vector<PageStore::Image>& images) {
  switch (item.kind) {
    case WorkItem::kBase: {
      const Version& v = *item.version;
      if (v.kind == Version::kImage) {
        wal::Page page;
        std::memcpy(page.data(), v.bytes.data(), wal::kBlockSize);
        cache_.put(item.page, item.lsn, page);
        return;
      }
      // A WILL_INIT record: redo from zeros when it can be replayed here.
      wal::Page page{};
      if (redo_block(page, v.bytes, v.block_index, item.lsn)) {
        cache_.put(item.page, item.lsn, page);
      } else {
        cache_.erase(item.page);
      }
      return;
    }
    case WorkItem::kDelta: {
      PageCache::Entry* e = cache_.find(item.page);
      if (e == nullptr || item.lsn <= e->lsn) return;  // not cached, or already applied
      const Version& v = *item.version;
      if (redo_block(e->page, v.bytes, v.block_index, item.lsn)) {
        e->lsn = item.lsn;
      } else {
        cache_.erase(item.page);  // the store's read will name the problem
      }
      return;
    }
    case WorkItem::kForget:
      cache_.erase(item.page);
      return;
    case WorkItem::kImage: {
      PageCache::Entry* e = cache_.find(item.page);
      if (e != nullptr && e->lsn == item.lsn) {
        ++cache_hits_;
        images.push_back(PageStore::Image{item.page, item.lsn, e->page});
        return;
      }
      ++cache_misses_;
      auto r = store_.read(item.page, item.lsn);
      if (r) {
        images.push_back(PageStore::Image{item.page, item.lsn, r->page});
        cache_.put(item.page, item.lsn, r->page);
      } else {
        // E.g. an image through a corrupt record: nothing to materialise.
        cache_.erase(item.page);
        spdlog::debug("event=image_skipped page={} lsn={} error=\"{}\"", item.page.to_string(), item.lsn,
                      r.error().message);
      }
      return;
    }
  }
}

void Service::worker_loop() {
  constexpr std::size_t kBatchMax = 256;  // items taken at once; their images go in one LevelDB batch
  std::vector<WorkItem> batch;
  std::vector<PageStore::Image> images;
  for (;;) {
    batch.clear();
    images.clear();
    std::size_t requested = 0;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      std::size_t n = std::min(kBatchMax, queue_.size());
      for (std::size_t i = 0; i < n; ++i) {
        requested += queue_.front().kind == WorkItem::kImage;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      in_flight_ = n;
    }
    queue_space_.notify_all();
    for (const WorkItem& item : batch) apply_item(item, images);
    // Requested images stay in image_lsns_ (and bound the readable LSN) until written.
    store_.put_images(images);
    {
      std::lock_guard lock(mu_);
      WQ_ASSERT(image_lsns_.size() >= requested, "{} images written, {} pending", requested,
                image_lsns_.size());
      for (std::size_t i = 0; i < requested; ++i) image_lsns_.pop_front();
      in_flight_ = 0;
      images_ += images.size();
      cached_pages_ = cache_.size();
    }
    changed_.notify_all();
    queue_space_.notify_all();
  }
}

std::uint64_t Service::compact(wal::Lsn horizon) {
  std::uint64_t n = store_.compact(horizon);
  std::lock_guard lock(mu_);
  compacted_ += n;
  return n;
}

ServiceStatus Service::status() const {
  std::lock_guard lock(mu_);
  ServiceStatus s;
  s.ingest_lsn = ingest_lsn_;
  s.durable_lsn = durable_lsn_;
  s.readable_lsn = readable_locked();
  s.server_wal_end = server_wal_end_;
  s.horizon = store_.horizon();
  s.records = records_;
  s.bytes = bytes_;
  s.images_generated = images_;
  s.fpis = fpis_;
  s.deltas = deltas_;
  s.image_queue_depth = image_lsns_.size();
  s.work_queue_depth = queue_.size() + in_flight_;
  s.cached_pages = cached_pages_;
  s.cache_hits = cache_hits_.load(std::memory_order_relaxed);
  s.cache_misses = cache_misses_.load(std::memory_order_relaxed);
  s.image_queue_max = opt_.image_queue_max;
  s.getpage_waiting = waiting_readers_;
  s.ingest_blocked_on_queue = blocked_;
  s.reads = reads_;
  s.read_errors = read_errors_;
  s.compacted_keys = compacted_;
  s.deltas_replayed_max = deltas_replayed_.max();
  s.last_error = last_error_;
  s.image_threshold = opt_.image_threshold;
  s.fpis_by_compression = by_compression_;
  return s;
}

std::string Service::metrics_text() const {
  ServiceStatus s = status();
  std::string out;
  auto gauge = [&](const char* name, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  auto counter = [&](const char* name, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  gauge("walquorum_ps_ingest_lsn", "end LSN of the last ingested record",
        static_cast<double>(s.ingest_lsn.value()));
  gauge("walquorum_ps_durable_lsn", "ingested and synced LSN (reported to safekeepers)",
        static_cast<double>(s.durable_lsn.value()));
  gauge("walquorum_ps_ingest_lag_bytes", "server's end of WAL minus the ingest LSN",
        s.server_wal_end > s.ingest_lsn ? static_cast<double>(s.server_wal_end - s.ingest_lsn) : 0.0);
  counter("walquorum_ps_records_total", "WAL records ingested", static_cast<double>(s.records));
  counter("walquorum_ps_wal_bytes_total", "WAL bytes ingested", static_cast<double>(s.bytes));
  counter("walquorum_ps_bases_total", "images and WILL_INIT records ingested", static_cast<double>(s.fpis));
  counter("walquorum_ps_deltas_total", "delta records ingested", static_cast<double>(s.deltas));
  counter("walquorum_ps_images_generated_total", "images materialised by the pushdown worker",
          static_cast<double>(s.images_generated));
  gauge("walquorum_ps_image_queue_depth", "image requests queued", static_cast<double>(s.image_queue_depth));
  gauge("walquorum_ps_image_queue_max", "image queue bound", static_cast<double>(s.image_queue_max));
  gauge("walquorum_ps_work_queue_depth", "versions and image requests queued for the image worker",
        static_cast<double>(s.work_queue_depth));
  gauge("walquorum_ps_worker_cached_pages", "pages the image worker keeps materialised",
        static_cast<double>(s.cached_pages));
  counter("walquorum_ps_image_cache_hits_total", "images copied from the worker's cache",
          static_cast<double>(s.cache_hits));
  counter("walquorum_ps_image_cache_misses_total", "images rebuilt from the store",
          static_cast<double>(s.cache_misses));
  counter("walquorum_ps_ingest_blocked_total", "times ingest waited for a full image queue",
          static_cast<double>(s.ingest_blocked_on_queue));
  gauge("walquorum_ps_getpage_waiting", "GetPage requests waiting for ingest",
        static_cast<double>(s.getpage_waiting));
  counter("walquorum_ps_getpage_errors_total", "GetPage requests that failed",
          static_cast<double>(s.read_errors));
  counter("walquorum_ps_compacted_keys_total", "versions removed by retention",
          static_cast<double>(s.compacted_keys));
  const char* methods[4] = {"none", "pglz", "lz4", "zstd"};
  out += "# HELP walquorum_ps_fpis_total full-page images ingested, by compression\n"
         "# TYPE walquorum_ps_fpis_total counter\n";
  for (std::size_t i = 0; i < 4; ++i) {
    out += fmt::format("walquorum_ps_fpis_total{{compression=\"{}\"}} {}\n", methods[i],
                       s.fpis_by_compression[i]);
  }
  out += deltas_replayed_.render("walquorum_ps_deltas_replayed", "deltas applied per GetPage");
  out += getpage_seconds_.render("walquorum_ps_getpage_seconds", "GetPage latency, wait included");
  return out;
}

}  // namespace wq::pageserver
