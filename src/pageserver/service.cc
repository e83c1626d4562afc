// Ingest, image worker and reads. See service.h.
#include "pageserver/service.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace wq::pageserver {

Service::Service(PageStore& store, ServiceOptions options)
    : store_(store),
      opt_(options),
      pushdown_(options.image_threshold, options.pushdown_pages_max,
                [this](const PageId& page) {
                  return store_.deltas_since_newest_base(page, opt_.image_threshold);
                }) {
  WQ_ASSERT(opt_.image_queue_max > 0, "image queue of 0");
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
    if (worker_.joinable()) changed_.wait_for(lock, std::chrono::seconds(30), [&] { return queue_.empty(); });
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
  std::vector<ImageRequest> images;
  std::uint64_t records = 0, fpis = 0, deltas = 0;
  std::array<std::uint64_t, 4> by_compression{};
  wal::Lsn end;
  std::optional<base::Error> error;
  for (;;) {
    wal::DecodeStep step = decoder_->next();
    if (auto* rec = std::get_if<wal::DecodedRecord>(&step)) {
      ++records;
      end = rec->end_lsn;
      for (const wal::BlockRef& b : rec->blocks) {
        if (b.has_image && b.apply_image) ++by_compression[b.compression];
      }
      for (Put& p : plan_record(*rec, opt_.tenant, opt_.timeline)) {
        if (p.kind == KeyKind::kBase) {
          ++fpis;
          pushdown_.on_base(p.page);
        } else {
          ++deltas;
          // A chain through a record without redo here cannot be materialised: not counted.
          if (p.replayable && pushdown_.on_delta(p.page)) images.push_back(ImageRequest{p.page, p.lsn});
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
  bytes_since_sync_ += bytes.size();
  {
    std::unique_lock lock(mu_);
    records_ += records;
    bytes_ += bytes.size();
    fpis_ += fpis;
    deltas_ += deltas;
    for (std::size_t i = 0; i < by_compression.size(); ++i) by_compression_[i] += by_compression[i];
    if (end.is_valid()) ingest_lsn_ = std::max(ingest_lsn_, end);
    for (const ImageRequest& r : images) {
      if (queue_.size() >= opt_.image_queue_max) ++blocked_;
      // Ingest waits on image generation only here, through the bounded queue.
      queue_space_.wait(lock, [&] { return stopping_ || queue_.size() < opt_.image_queue_max; });
      if (stopping_) break;
      queue_.push_back(r);
      changed_.notify_all();
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
  if (!queue_.empty()) return std::min(ingest_lsn_, queue_.front().lsn);
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
  return changed_.wait_for(lock, timeout, [&] { return stopping_ || queue_.empty(); });
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

void Service::worker_loop() {
  constexpr std::size_t kBatchMax = 64;  // images written per LevelDB batch
  std::vector<ImageRequest> batch;
  std::vector<PageStore::Image> images;
  for (;;) {
    batch.clear();
    images.clear();
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      // They stay queued (and bound the readable LSN) until written; only this
      // thread pops, and ingest only appends, so the first entries are stable.
      std::size_t n = std::min(kBatchMax, queue_.size());
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    for (const ImageRequest& req : batch) {
      auto r = store_.read(req.page, req.lsn);
      if (r) {
        images.push_back(PageStore::Image{req.page, req.lsn, r->page});
      } else {
        // E.g. an image through a corrupt record: nothing to materialise.
        spdlog::debug("event=image_skipped page={} lsn={} error=\"{}\"", req.page.to_string(), req.lsn,
                      r.error().message);
      }
    }
    store_.put_images(images);
    {
      std::lock_guard lock(mu_);
      for (std::size_t i = 0; i < batch.size(); ++i) queue_.pop_front();
      images_ += images.size();
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
  s.image_queue_depth = queue_.size();
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
