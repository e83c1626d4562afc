// The pageserver process. See server.h.
#include "pageserver/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "net/connection.h"
#include "pageserver/getpage_codec.h"
#include "pageserver/http_route.h"

namespace wq::pageserver {

namespace {

constexpr std::uint32_t kInflightMax = 1024;

// <dir>/<name> via a temporary file and rename, so a reader never sees half of it.
base::Status write_small_file(const std::string& dir, const std::string& name, const std::string& text) {
  std::string tmp = dir + "/." + name + ".tmp", path = dir + "/" + name;
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return base::Unexpected{base::ErrorCode::kIo, fmt::format("cannot write {}", tmp)};
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return base::Unexpected{base::ErrorCode::kIo, fmt::format("cannot write {}", path)};
  }
  return base::Ok{};
}

// The pageserver's stable id: 16 hex digits in <dir>/pageserver.id, made at
// the first start (random) and synced with its directory, so the default slot
// name stays the same across restarts.
base::Result<std::string> pageserver_id(const std::string& dir) {
  const std::string path = dir + "/pageserver.id";
  auto valid = [](const std::string& t) {
    return t.size() == 16 && std::all_of(t.begin(), t.end(), [](char c) {
             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
  };
  if (std::ifstream in(path); in) {
    std::string text;
    std::getline(in, text);
    if (!valid(text)) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("{}: expected 16 lower-case hex digits, found '{}' (remove the "
                                          "file for a new id, or pass --slot-name)",
                                          path, text.substr(0, 40))};
    }
    return text;
  }
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  std::string id = fmt::format("{:016x}", v);
  std::string tmp = dir + "/.pageserver.id.tmp", line = id + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  ok = ok && std::rename(tmp.c_str(), path.c_str()) == 0;
  int dfd = ok ? ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  ok = ok && dfd >= 0 && ::fsync(dfd) == 0;
  if (dfd >= 0) ::close(dfd);
  if (!ok) return base::Unexpected{base::ErrorCode::kIo, fmt::format("cannot write {}", path)};
  return id;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Server::Server(Config config, asio::io_context& io) : config_(std::move(config)), io_(io) {}

Server::~Server() { stop(); }

base::Status Server::start() {
  std::error_code fs_ec;
  std::filesystem::create_directories(config_.data_dir, fs_ec);
  if (fs_ec) {
    return base::Unexpected{base::ErrorCode::kIo,
                            fmt::format("cannot create {}: {}", config_.data_dir, fs_ec.message())};
  }
  auto store = PageStore::open(config_.data_dir + "/pages");
  if (!store) return base::Unexpected{store.error()};
  store_ = std::move(*store);

  ServiceOptions so;
  so.tenant = config_.tenant;
  so.timeline = config_.timeline;
  so.image_threshold = config_.image_threshold;
  so.image_queue_max = config_.image_queue_max;
  so.sync_interval_ms = config_.sync_interval_ms;
  so.seg_size = static_cast<std::uint64_t>(config_.wal_segment_mb) << 20;
  service_ = std::make_unique<Service>(*store_, so);
  service_->start();
  spdlog::info("event=store_open durable_lsn={} image_threshold={}",
               store_->recorded_durable_lsn().value_or(wal::Lsn()), config_.image_threshold);

  pool_ = std::make_unique<asio::thread_pool>(config_.getpage_threads);
  auto listener = net::Listener::open(io_, config_.listen_page);
  if (!listener) return base::Unexpected{listener.error()};
  listener_ = *listener;
  listener_->start([this](asio::ip::tcp::socket s) { on_accept(std::move(s)); });
  if (auto st = write_small_file(config_.data_dir, "page.port", fmt::format("{}\n", listener_->port())); !st) {
    return st;
  }
  spdlog::info("event=listening port=page address={}:{}", config_.listen_page.host, listener_->port());

  http_ = std::make_unique<httplib::Server>();
  http_->set_payload_max_length(64 * 1024);
  http_->set_read_timeout(5, 0);
  // Every request is routed by route_http (http_route.h, fuzzed).
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const HttpRoute route = route_http(req.method, req.path);
    switch (route.kind) {
      case HttpRoute::Kind::kStatus:
        res.set_content(status_json(), "application/json");
        break;
      case HttpRoute::Kind::kMetrics:
        res.set_content(service_->metrics_text() + (receiver_ ? receiver_->metrics_text() : ""),
                        "text/plain; version=0.0.4");
        break;
      case HttpRoute::Kind::kError:
        res.status = route.status;
        res.set_content(fmt::format("{{\"error\":\"{}\"}}", route.error), "application/json");
        break;
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  int port = config_.listen_http.port;
  if (port == 0) {
    port = http_->bind_to_any_port(config_.listen_http.host);
    if (port <= 0) {
      return base::Unexpected{base::ErrorCode::kIo,
                              fmt::format("cannot listen on {} (http)", config_.listen_http.to_string())};
    }
  } else if (!http_->bind_to_port(config_.listen_http.host, port)) {
    return base::Unexpected{base::ErrorCode::kIo,
                            fmt::format("cannot listen on {} (http)", config_.listen_http.to_string())};
  }
  if (auto st = write_small_file(config_.data_dir, "http.port", fmt::format("{}\n", port)); !st) return st;
  spdlog::info("event=listening port=http address={}:{}", config_.listen_http.host, port);
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });

  ReceiverOptions ro;
  ro.sources = config_.safekeepers;
  ro.plain_postgres = config_.plain_postgres;
  ro.tenant = config_.tenant;
  ro.timeline = config_.timeline;
  ro.user = config_.pg_user;
  ro.start_lsn = config_.start_lsn;
  ro.seg_size = so.seg_size;
  ro.stall_timeout = std::chrono::milliseconds(config_.stall_timeout_ms);
  ro.status_interval = std::chrono::milliseconds(config_.status_interval_ms);
  ro.probe_interval = std::chrono::milliseconds(config_.probe_interval_ms);
  ro.behind_margin_bytes = config_.behind_margin_bytes;
  ro.behind_grace = std::chrono::milliseconds(config_.behind_grace_ms);
  if (!config_.slot_name.empty()) {
    ro.slot = config_.slot_name;
  } else if (!config_.no_slot && !config_.plain_postgres) {
    auto id = pageserver_id(config_.data_dir);
    if (!id) return base::Unexpected{id.error()};
    ro.slot = "pageserver_" + *id;
  }
  spdlog::info("event=receiver_config slot={} probe_interval_ms={} behind_margin_bytes={} behind_grace_ms={}",
               ro.slot.value_or("none"), config_.probe_interval_ms, config_.behind_margin_bytes,
               config_.behind_grace_ms);
  receiver_ = std::make_unique<WalReceiver>(ro, *service_);
  receiver_->start();

  if (config_.retention_bytes > 0) retention_thread_ = std::thread([this] { retention_loop(); });
  return base::Ok{};
}

void Server::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  if (receiver_) receiver_->stop();
  // The receiver thread is gone: what it ingested is synced here, so a restart resumes after it.
  if (service_) service_->sync_if_due(true);
  if (listener_) listener_->stop();
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (service_) service_->stop();  // wakes readers waiting for ingest
  if (pool_) pool_->join();
}

void Server::retention_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(config_.compaction_interval_ms), [&] { return stopping_; });
    if (stopping_) break;
    wal::Lsn durable = service_->status().durable_lsn;
    if (durable.value() <= config_.retention_bytes) continue;
    lock.unlock();
    wal::Lsn horizon(durable.value() - config_.retention_bytes);
    std::uint64_t n = service_->compact(horizon);
    spdlog::info("event=retention horizon={} deleted={}", horizon, n);
    lock.lock();
  }
}

void Server::on_accept(asio::ip::tcp::socket socket) {
  net::ConnectionOptions co;
  co.frame_bytes_max = 64 * 1024;  // requests are tiny
  co.idle_timeout = std::chrono::milliseconds(0);
  auto conn = net::FramedConnection::create(std::move(socket), co,
                                            fmt::format("page conn {}", ++connections_));
  // One strand per connection: requests are served one at a time, in order,
  // so responses need no ids; a slow read delays only its own connection.
  auto strand = std::make_shared<asio::strand<asio::thread_pool::executor_type>>(pool_->get_executor());
  std::weak_ptr<net::FramedConnection> weak = conn;
  // Requests accepted but not answered on this connection; a client that
  // pipelines past the bound is cut off rather than queued without limit.
  auto inflight = std::make_shared<std::atomic<std::uint32_t>>(0);
  conn->start(
      [this, weak, strand, inflight](std::span<const std::uint8_t> payload) {
        auto c = weak.lock();
        if (!c) return;
        if (inflight->load() >= kInflightMax) {
          c->close(fmt::format("more than {} GetPage requests in flight", kInflightMax));
          return;
        }
        auto req = decode_request(payload);
        if (!req) {
          GetPageResponse bad;
          bad.error = req.error().message;
          c->send(encode_response(bad));
          c->close_after_flush("malformed GetPage request: " + req.error().message);
          return;
        }
        inflight->fetch_add(1);
        asio::post(*strand, [this, weak, inflight, r = *req] {
          struct Done {
            std::atomic<std::uint32_t>& n;
            ~Done() { n.fetch_sub(1); }
          } done{*inflight};
          auto c2 = weak.lock();
          if (!c2 || !c2->is_open()) return;
          GetPageResponse resp;
          resp.lsn = r.lsn;
          if (r.page.tenant != config_.tenant || r.page.timeline != config_.timeline) {
            resp.error = fmt::format("tenant {} timeline {} is not served here", id_hex(r.page.tenant),
                                     id_hex(r.page.timeline));
          } else {
            auto got = service_->get_page(r.page, wal::Lsn(r.lsn),
                                          std::chrono::milliseconds(config_.getpage_timeout_ms));
            if (got) {
              resp.page = got->page;
              resp.deltas_replayed = static_cast<std::uint32_t>(got->deltas_replayed);
            } else {
              resp.error = got.error().message;
            }
          }
          c2->send(encode_response(resp));
        });
      },
      [](const std::string&) {});
}

namespace {

std::string receiver_json(const ReceiverStatus& r) {
  std::string probes = "[";
  for (std::size_t i = 0; i < r.probes.size(); ++i) {
    const SourceProbe& p = r.probes[i];
    probes += fmt::format("{}{{\"source\":\"{}\",\"ok\":{},\"position\":\"{}\",\"slot_moved_to\":\"{}\","
                          "\"error\":\"{}\"}}",
                          i ? "," : "", json_escape(p.source), p.ok ? "true" : "false", p.position,
                          p.slot_moved_to, json_escape(p.error));
  }
  probes += "]";
  return fmt::format(
      "{{\"source\":\"{}\",\"slot\":\"{}\",\"connects\":{},\"failovers\":{},\"failovers_broken\":{},"
      "\"failovers_stalled\":{},\"failovers_behind\":{},\"stalls\":{},\"status_updates\":{},"
      "\"probe_rounds\":{},\"slot_moves\":{},\"last_error\":\"{}\",\"probes\":{}}}",
      json_escape(r.source), json_escape(r.slot), r.connects, r.failovers, r.failovers_broken,
      r.failovers_stalled, r.failovers_behind, r.stalls, r.status_updates, r.probe_rounds, r.slot_moves,
      json_escape(r.last_error), probes);
}

}  // namespace

std::string Server::status_json() const {
  ServiceStatus s = service_->status();
  ReceiverStatus r = receiver_ ? receiver_->status() : ReceiverStatus{};
  return fmt::format(
      "{{\"tenant_id\":\"{}\",\"timeline_id\":\"{}\",\"ingest_lsn\":\"{}\",\"durable_lsn\":\"{}\","
      "\"readable_lsn\":\"{}\",\"source_wal_end\":\"{}\",\"ingest_lag_bytes\":{},"
      "\"retention_horizon\":\"{}\",\"records\":{},\"wal_bytes\":{},\"bases\":{},\"deltas\":{},"
      "\"image_threshold\":{},\"images_generated\":{},\"image_queue_depth\":{},\"image_queue_max\":{},"
      "\"ingest_blocked_on_queue\":{},\"getpage_waiting\":{},\"getpage_reads\":{},"
      "\"getpage_errors\":{},\"deltas_replayed_max\":{},\"compacted_keys\":{},"
      "\"receiver\":{},\"last_ingest_error\":\"{}\","
      "\"fpis\":{{\"none\":{},\"pglz\":{},\"lz4\":{},\"zstd\":{}}}}}",
      id_hex(config_.tenant), id_hex(config_.timeline), s.ingest_lsn, s.durable_lsn, s.readable_lsn,
      s.server_wal_end,
      s.server_wal_end > s.ingest_lsn ? s.server_wal_end - s.ingest_lsn : 0, s.horizon, s.records, s.bytes,
      s.fpis, s.deltas, s.image_threshold, s.images_generated, s.image_queue_depth, s.image_queue_max,
      s.ingest_blocked_on_queue, s.getpage_waiting, s.reads, s.read_errors, s.deltas_replayed_max,
      s.compacted_keys, receiver_json(r), json_escape(s.last_error), s.fpis_by_compression[0],
      s.fpis_by_compression[1], s.fpis_by_compression[2], s.fpis_by_compression[3]);
}

}  // namespace wq::pageserver
