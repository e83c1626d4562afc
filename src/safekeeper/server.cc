// The safekeeper process: timelines, WAL-port sessions, HTTP (see server.h).
#include "safekeeper/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <future>
#include <limits>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "codec/messages.h"
#include "safekeeper/http_route.h"
#include "safekeeper/restart_scan.h"

namespace wq::safekeeper {

namespace {

// Writes `text` to <dir>/<name> atomically (tmp + rename), so a reader polling
// for the file never sees half of it.
base::Status write_small_file(const std::string& dir, const std::string& name,
                              const std::string& text) {
  std::string tmp = dir + "/" + name + ".tmp";
  std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    return base::Unexpected{base::ErrorCode::kIo, fmt::format("cannot write {}", tmp)};
  }
  bool ok = std::fputs(text.c_str(), f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return base::Unexpected{base::ErrorCode::kIo, fmt::format("cannot write {}", path)};
  }
  return base::Ok{};
}

// One WAL-port connection: the first message must be a ProposerGreeting; it
// binds the connection to a timeline (created if new); later messages go to
// that timeline's strand. Anything else closes the connection with a reason.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, core::ConnId id, std::shared_ptr<net::FramedConnection> conn)
      : server_(server), id_(id), conn_(std::move(conn)) {}

  void start() {
    server_.metrics().connections_open.fetch_add(1);
    server_.metrics().connections_total.fetch_add(1);
    auto self = shared_from_this();
    conn_->start([self](std::span<const std::uint8_t> p) { self->on_frame(p); },
                 [self](const std::string& reason) { self->on_close(reason); });
  }

 private:
  enum class State { kNew, kCreating, kBound, kClosed };

  void on_frame(std::span<const std::uint8_t> payload) {
    if (state_ == State::kClosed) return;
    auto decoded = codec::decode_proposer_message(payload);
    if (!decoded) {
      reject(fmt::format("malformed message: {}", decoded.error().message));
      return;
    }
    core::ProposerMessage& msg = *decoded;
    const auto* greeting = std::get_if<core::ProposerGreeting>(&msg);
    switch (state_) {
      case State::kNew:
        if (greeting == nullptr) {
          reject(fmt::format("message out of order: {} before ProposerGreeting",
                             codec::message_name(msg)));
          return;
        }
        if (greeting->protocol_version != core::kProtocolVersion) {
          reject(fmt::format("protocol version {} (expected {})", greeting->protocol_version,
                             core::kProtocolVersion));
          return;
        }
        if (auto tl = server_.find(greeting->timeline)) {
          bind(std::move(tl), std::move(msg));
          return;
        }
        state_ = State::kCreating;
        server_.create_timeline(*greeting, [self = shared_from_this(), m = std::move(msg)](
                                               std::shared_ptr<Timeline> tl,
                                               std::string error) mutable {
          // Runs on the I/O thread: hop back to the connection's strand.
          asio::post(self->conn_->strand(), [self, tl = std::move(tl), error = std::move(error),
                                             m = std::move(m)]() mutable {
            if (self->state_ != State::kCreating) return;
            if (!tl) {
              self->reject(fmt::format("cannot create timeline: {}", error));
              return;
            }
            self->bind(std::move(tl), std::move(m));
          });
        });
        return;
      case State::kCreating:
        reject(fmt::format("message out of order: {} before the greeting was answered",
                           codec::message_name(msg)));
        return;
      case State::kBound:
        if (greeting != nullptr && greeting->timeline != timeline_->key()) {
          reject(fmt::format("greeting for timeline {} on a connection bound to {}",
                             greeting->timeline.to_string(), timeline_->key().to_string()));
          return;
        }
        timeline_->post_message(id_, std::move(msg));
        return;
      case State::kClosed:
        return;
    }
  }

  void bind(std::shared_ptr<Timeline> tl, core::ProposerMessage greeting) {
    timeline_ = std::move(tl);
    state_ = State::kBound;
    timeline_->attach(id_, conn_);
    spdlog::info("event=conn_bound conn={} peer={} timeline={}", id_, conn_->remote_address(),
                 timeline_->key().to_string());
    timeline_->post_message(id_, std::move(greeting));
  }

  void reject(std::string reason) {
    state_ = State::kClosed;
    server_.metrics().connections_rejected.fetch_add(1);
    conn_->close(std::move(reason));  // the close logs the reason
  }

  void on_close(const std::string& reason) {
    // Framing errors are detected (and the connection closed) by net/ itself.
    if (reason.rfind("bad frame", 0) == 0) server_.metrics().connections_rejected.fetch_add(1);
    state_ = State::kClosed;
    server_.metrics().connections_open.fetch_sub(1);
    if (timeline_) timeline_->post_disconnected(id_);
  }

  Server& server_;
  core::ConnId id_;
  std::shared_ptr<net::FramedConnection> conn_;
  std::shared_ptr<Timeline> timeline_;
  State state_ = State::kNew;
};

// One learner connection's view of a timeline (pgwire::WalStream contract):
// every method runs on the connection's strand.
class TimelineStream : public pgwire::WalStream {
 public:
  TimelineStream(std::shared_ptr<Timeline> tl, Metrics& metrics, std::uint64_t conn,
                 std::string application_name, std::size_t read_bytes_max, core::Lsn commit)
      : tl_(std::move(tl)),
        commit_(commit),
        metrics_(metrics),
        conn_(conn),
        application_name_(std::move(application_name)),
        read_bytes_max_(read_bytes_max),
        reader_(std::make_shared<VerifiedReader>(tl_->wal_seg_size())) {
    metrics_.learner_connections.fetch_add(1);
  }
  ~TimelineStream() override {
    tl_->cancel_commit_wait(conn_);
    tl_->forget_learner_conn(conn_);
    metrics_.learner_connections.fetch_sub(1);
  }

  // The timeline's held end, never lowered for this stream (the contract):
  // after damage is cut a stream that already saw more gets errors until the
  // repair; one opened later waits for it.
  core::Lsn commit_lsn() override {
    commit_ = std::max(commit_, tl_->held_end());
    return commit_;
  }
  void read(core::Lsn from, core::Lsn to, ReadDone done) override {
    // One reader per stream: it decodes on from read to read (contiguous reads).
    tl_->learner_read(reader_, from, to, read_bytes_max_, std::move(done));
  }
  void wait_commit(core::Lsn after, std::function<void()> done) override {
    tl_->wait_commit(conn_, after, std::move(done));
  }
  void on_learner_feedback(const pgwire::LearnerFeedback& feedback) override {
    tl_->on_learner_flush(feedback.slot, conn_, feedback.flush, application_name_);
  }
  std::optional<core::Lsn> slot_restart_lsn(const std::string& slot) override {
    return tl_->slot_flush(slot);
  }
  void drop_slot(const std::string& slot) override { tl_->drop_slot(slot); }

 private:
  std::shared_ptr<Timeline> tl_;
  core::Lsn commit_;
  Metrics& metrics_;
  std::uint64_t conn_;
  std::string application_name_;
  std::size_t read_bytes_max_;
  std::shared_ptr<VerifiedReader> reader_;  // used on the I/O thread, one read at a time
};

}  // namespace

// Opens learner streams on the server's timelines.
class LearnerSource : public pgwire::WalSource {
 public:
  explicit LearnerSource(Server& server) : server_(server) {}
  base::Result<pgwire::OpenedStream> open(const pgwire::OpenRequest& request) override {
    auto tenant = core::Id128::parse_hex(request.ref.tenant_id);
    auto timeline = core::Id128::parse_hex(request.ref.timeline_id);
    if (!tenant || !timeline) {
      return base::Unexpected{base::ErrorCode::kInvalidArgument,
                              "tenant_id and timeline_id must be 32 hex digits each"};
    }
    core::TimelineKey key{*tenant, *timeline};
    auto tl = server_.find(key);
    if (!tl) {
      return base::Unexpected{base::ErrorCode::kNotFound,
                              fmt::format("timeline {} not found on safekeeper {}",
                                          key.to_string(), server_.config().id)};
    }
    pgwire::OpenedStream out;
    out.info.system_id = tl->system_id();
    out.info.wal_seg_size = tl->wal_seg_size();
    out.info.tli = 1;
    out.info.commit_lsn = tl->held_end();
    spdlog::info("event=learner_open conn={} remote={} timeline={} application_name=\"{}\"",
                 request.conn_id, request.remote, key.to_string(),
                 json_escape(request.application_name));
    out.stream = std::make_unique<TimelineStream>(std::move(tl), server_.metrics(),
                                                  request.conn_id, request.application_name,
                                                  kLearnerReadBytesMax, out.info.commit_lsn);
    return out;
  }

 private:
  static constexpr std::size_t kLearnerReadBytesMax = 128 * 1024;
  Server& server_;
};

std::string lsn_text(core::Lsn lsn) { return fmt::format("{}", lsn); }

std::string json_escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

std::string timeline_json(const TimelineStatus& s) {
  std::string history = "[";
  for (std::size_t i = 0; i < s.term_history.entries().size(); ++i) {
    const auto& e = s.term_history.entries()[i];
    history += fmt::format("{}{{\"term\":{},\"lsn\":\"{}\"}}", i ? "," : "", e.term.value(),
                           lsn_text(e.lsn));
  }
  history += "]";
  std::string conns = "[";
  std::string proposer = "null";
  for (std::size_t i = 0; i < s.conns.size(); ++i) {
    bool elected = s.elected_conn && *s.elected_conn == s.conns[i].id;
    conns += fmt::format("{}{{\"conn\":{},\"remote\":\"{}\",\"elected_proposer\":{}}}", i ? "," : "",
                         s.conns[i].id, s.conns[i].remote, elected ? "true" : "false");
    if (elected) proposer = fmt::format("\"{}\"", s.conns[i].remote);
  }
  conns += "]";
  std::string learners = "[";
  for (std::size_t i = 0; i < s.learners.size(); ++i) {
    const auto& l = s.learners[i];
    std::string who = l.slot.empty() ? fmt::format("\"conn\":{}", l.conn)
                                     : fmt::format("\"slot\":\"{}\"", json_escape(l.slot));
    learners += fmt::format("{}{{{},\"flush_lsn\":\"{}\",\"application_name\":\"{}\"}}",
                            i ? "," : "", who, lsn_text(l.flush_lsn),
                            json_escape(l.application_name));
  }
  learners += "]";
  std::string damage = "null";
  if (s.last_damage) {
    damage = fmt::format("{{\"at\":\"{}\",\"valid_end\":\"{}\",\"source\":\"{}\",\"reason\":\"{}\"}}",
                         lsn_text(s.last_damage->at), lsn_text(s.last_damage->valid_end),
                         s.last_damage->source, json_escape(s.last_damage->reason));
  }
  return fmt::format(
      "{{\"tenant_id\":\"{}\",\"timeline_id\":\"{}\",\"term\":{},\"term_history\":{},"
      "\"flush_lsn\":\"{}\",\"write_lsn\":\"{}\",\"commit_lsn\":\"{}\",\"truncate_lsn\":\"{}\","
      "\"term_start_lsn\":\"{}\",\"timeline_start_lsn\":\"{}\",\"persisted_commit_lsn\":\"{}\","
      "\"corrupt\":{},\"last_damage\":{},\"no_space\":{},"
      "\"proposer\":{},\"connections\":{},\"learners\":{},\"disk_bytes\":{},"
      "\"peer_recovery\":{{\"active\":{},\"peer\":\"{}\",\"bytes\":{},\"last_error\":\"{}\"}}}}",
      s.key.tenant.to_hex(), s.key.timeline.to_hex(), s.term.value(), history,
      lsn_text(s.flush_lsn), lsn_text(s.write_lsn), lsn_text(s.commit_lsn),
      lsn_text(s.truncate_lsn), lsn_text(s.term_start_lsn), lsn_text(s.timeline_start_lsn),
      lsn_text(s.persisted_commit_lsn), s.corrupt ? "true" : "false", damage, s.no_space ? "true" : "false", proposer, conns, learners, s.disk_bytes,
      s.recovering ? "true" : "false", s.recovery_peer, s.recovered_bytes,
      json_escape(s.recovery_error));
}

Server::Server(Config config, asio::io_context& io)
    : config_(std::move(config)),
      io_(io),
      io_thread_(IoThread::Options{std::chrono::milliseconds(config_.sync_interval_ms)}) {}

Server::~Server() { stop(); }

std::string Server::timeline_dir(const core::TimelineKey& key) const {
  return fmt::format("{}/timelines/{}/{}", config_.data_dir, key.tenant.to_hex(),
                     key.timeline.to_hex());
}

std::shared_ptr<Timeline> Server::make_timeline(core::ControlState state, core::Lsn wal_end,
                                                storage::WalStore store) {
  return std::make_shared<Timeline>(io_, io_thread_, *control_store_, metrics_,
                                    core::NodeId{config_.id}, std::move(state), wal_end,
                                    std::move(store), config_.retention_bytes);
}

base::Status Server::load_timelines() {
  auto states = control_store_->list();
  if (!states) return base::Unexpected{states.error()};
  for (core::ControlState& st : *states) {
    std::string dir = timeline_dir(st.timeline);
    storage::WalStoreOptions opts;
    opts.seg_size = st.wal_seg_size;
    opts.system_id = st.system_id;
    auto store = storage::WalStore::open(dir, opts);
    if (!store) {
      return base::Unexpected{store.error().code,
                              fmt::format("timeline {}: {}", st.timeline.to_string(),
                                          store.error().message)};
    }
    const RestartVerdict verdict = restart_scan(*store, st);
    auto tl = make_timeline(st, verdict.wal_end, std::move(*store));
    auto learners = control_store_->get_learners(st.timeline);
    if (!learners) return base::Unexpected{learners.error()};
    tl->load_learners(*learners);
    if (verdict.unrepairable) tl->mark_unrepairable();
    io_thread_.add_timeline(tl);
    timelines_[st.timeline] = std::move(tl);
  }
  return base::Ok{};
}

base::Status Server::start() {
  auto cs = storage::ControlStore::open(config_.data_dir);
  if (!cs) return base::Unexpected{cs.error()};
  control_store_.emplace(std::move(*cs));
  if (auto st = load_timelines(); !st) return st;
  spdlog::info("event=started node={} data_dir={} timelines={}", config_.id, config_.data_dir,
               timelines_.size());

  auto wal = net::Listener::open(io_, config_.listen_wal);
  if (!wal) return base::Unexpected{wal.error()};
  wal_listener_ = *wal;
  wal_listener_->start([this](asio::ip::tcp::socket s) { on_accept(std::move(s)); });
  if (auto st = write_small_file(config_.data_dir, "wal.port",
                                 fmt::format("{}\n", wal_listener_->port()));
      !st) {
    return st;
  }
  spdlog::info("event=listening port=wal address={}:{}", config_.listen_wal.host,
               wal_listener_->port());
  if (config_.listen_pg) {
    pg_source_ = std::make_unique<LearnerSource>(*this);
    pg_server_ = std::make_unique<pgwire::ReplicationServer>(io_, *pg_source_,
                                                             pgwire::ServerOptions{});
    if (auto st = pg_server_->listen(*config_.listen_pg); !st) {
      return base::Unexpected{st.error().code,
                              fmt::format("--listen-pg {}: {}", config_.listen_pg->to_string(),
                                          st.error().message)};
    }
    if (auto st = write_small_file(config_.data_dir, "pg.port",
                                   fmt::format("{}\n", pg_server_->port()));
        !st) {
      return st;
    }
  }
  if (auto st = start_http(); !st) return st;
  io_thread_.start();
  recovery_ = std::make_shared<PeerRecovery>(io_, config_.peers, core::NodeId{config_.id},
                                             metrics_, [this] {
                                               std::vector<std::shared_ptr<Timeline>> out;
                                               std::lock_guard lock(timelines_mu_);
                                               for (auto& [k, t] : timelines_) out.push_back(t);
                                               return out;
                                             });
  recovery_->start();
  if (!config_.peers.empty()) {
    std::string list;
    for (const auto& p : config_.peers) list += (list.empty() ? "" : ",") + p.to_string();
    spdlog::info("event=peer_recovery_enabled peers={}", list);
  }
  return base::Ok{};
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (recovery_) recovery_->stop();
  if (wal_listener_) wal_listener_->stop();
  if (pg_server_) pg_server_->stop();
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  io_thread_.stop();
}

std::shared_ptr<Timeline> Server::find(const core::TimelineKey& key) {
  std::lock_guard lock(timelines_mu_);
  auto it = timelines_.find(key);
  return it == timelines_.end() ? nullptr : it->second;
}

void Server::create_timeline(const core::ProposerGreeting& greeting,
                             std::function<void(std::shared_ptr<Timeline>, std::string)> done) {
  io_thread_.push(IoJob{nullptr, 0, 0, {}, [this, greeting, done = std::move(done)] {
    if (auto existing = find(greeting.timeline)) {  // a concurrent greeting created it
      done(existing, "");
      return;
    }
    core::ControlState st = core::Acceptor::initial(greeting);
    storage::WalStoreOptions opts;
    opts.seg_size = st.wal_seg_size;
    opts.system_id = st.system_id;
    auto store = storage::WalStore::open(timeline_dir(st.timeline), opts);
    if (!store) {
      spdlog::warn("event=timeline_create_failed timeline={} error=\"{}\"",
                   st.timeline.to_string(), store.error().message);
      done(nullptr, store.error().message);
      return;
    }
    control_store_->put(st);  // durable before any reply names the timeline
    auto tl = make_timeline(st, core::Lsn{}, std::move(*store));
    io_thread_.add_timeline(tl);
    {
      std::lock_guard lock(timelines_mu_);
      timelines_[st.timeline] = tl;
    }
    spdlog::info("event=timeline_created timeline={} system_id={} wal_seg_size={}",
                 st.timeline.to_string(), st.system_id, st.wal_seg_size);
    done(std::move(tl), "");
  }});
}

void Server::on_accept(asio::ip::tcp::socket socket) {
  core::ConnId id = next_conn_id();
  net::ConnectionOptions opts;
  opts.idle_timeout = std::chrono::milliseconds(config_.idle_timeout_ms);
  // Each connection holds one read buffer for its life: 64 KiB keeps a thousand
  // proposers' connections at 64 MiB of RSS (256 KiB would be a quarter GiB).
  opts.read_chunk_bytes = 64 * 1024;
  auto conn = net::FramedConnection::create(std::move(socket), opts, fmt::format("wal conn {}", id));
  spdlog::debug("event=conn_accepted conn={} peer={}", id, conn->remote_address());
  std::make_shared<Session>(*this, id, std::move(conn))->start();
}

std::string Server::status_json() {
  std::vector<std::shared_ptr<Timeline>> tls;
  {
    std::lock_guard lock(timelines_mu_);
    for (auto& [k, t] : timelines_) tls.push_back(t);
  }
  std::string out = fmt::format("{{\"node_id\":{},\"timelines\":[", config_.id);
  std::uint64_t disk = 0;
  for (std::size_t i = 0; i < tls.size(); ++i) {
    TimelineStatus s = tls[i]->status();
    disk += s.disk_bytes;
    out += (i ? "," : "") + timeline_json(s);
  }
  out += fmt::format("],\"disk_bytes\":{},\"connections\":{}}}", disk,
                     metrics_.connections_open.load());
  return out;
}

std::string Server::metrics_text() {
  std::string out;
  metrics_.render(out);
  std::vector<TimelineStatus> statuses;
  {
    std::lock_guard lock(timelines_mu_);
    for (auto& [k, t] : timelines_) statuses.push_back(t->status());
  }
  out += "# HELP walquorum_sk_timelines hosted timelines\n# TYPE walquorum_sk_timelines gauge\n";
  out += fmt::format("walquorum_sk_timelines {}\n", statuses.size());
  auto per_timeline = [&](const char* name, const char* help, auto get) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& s : statuses) {
      fmt::format_to(std::back_inserter(out), "{}{{tenant_id=\"{}\",timeline_id=\"{}\"}} {}\n", name,
                     s.key.tenant.to_hex(), s.key.timeline.to_hex(), get(s));
    }
  };
  per_timeline("walquorum_sk_commit_lsn", "commit LSN (bytes)",
               [](const TimelineStatus& s) { return s.commit_lsn.value(); });
  per_timeline("walquorum_sk_flush_lsn", "durable record-aligned end of WAL (bytes)",
               [](const TimelineStatus& s) { return s.flush_lsn.value(); });
  per_timeline("walquorum_sk_corrupt",
               "1 while the timeline is corrupt (damage found; refuses votes and reads until repaired)",
               [](const TimelineStatus& s) { return s.corrupt ? 1 : 0; });
  per_timeline("walquorum_sk_term", "current term",
               [](const TimelineStatus& s) { return s.term.value(); });
  per_timeline("walquorum_sk_learner_flush_lsn",
               "lowest confirmed flush LSN of the timeline's learners (0: none or unconfirmed)",
               [](const TimelineStatus& s) {
                 if (s.learners.empty()) return std::uint64_t{0};
                 std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
                 for (const auto& l : s.learners) m = std::min(m, l.flush_lsn.value());
                 return m;
               });
  per_timeline("walquorum_sk_disk_bytes", "bytes on disk for the timeline's WAL",
               [](const TimelineStatus& s) { return s.disk_bytes; });
  return out;
}

base::Status Server::start_http() {
  http_ = std::make_unique<httplib::Server>();
  http_->set_payload_max_length(64 * 1024);
  http_->set_read_timeout(5, 0);
  // Every request is routed by route_http (http_route.h, fuzzed); only the
  // creation of a timeline goes on to the POST handler below, which reads the body.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const HttpRoute route = route_http(req.method, req.path);
    switch (route.kind) {
      case HttpRoute::Kind::kStatus:
        res.set_content(status_json(), "application/json");
        break;
      case HttpRoute::Kind::kMetrics:
        res.set_content(metrics_text(), "text/plain; version=0.0.4");
        break;
      case HttpRoute::Kind::kTimeline:
        if (auto tl = find(route.timeline)) {
          res.set_content(timeline_json(tl->status()), "application/json");
        } else {
          res.status = 404;
          res.set_content("{\"error\":\"timeline not found\"}", "application/json");
        }
        break;
      case HttpRoute::Kind::kCreateTimeline:
        return httplib::Server::HandlerResponse::Unhandled;
      case HttpRoute::Kind::kError:
        res.status = route.status;
        res.set_content(fmt::format("{{\"error\":\"{}\"}}", route.error), "application/json");
        break;
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  http_->Post(R"(/v1/tenant/[0-9a-fA-F]{32}/timeline/[0-9a-fA-F]{32})",
              [this](const httplib::Request& req, httplib::Response& res) {
                auto bad = [&](const std::string& why) {
                  res.status = 400;
                  res.set_content(fmt::format("{{\"error\":\"{}\"}}", why), "application/json");
                };
                const HttpRoute route = route_http(req.method, req.path);
                if (route.kind != HttpRoute::Kind::kCreateTimeline) return bad("not a timeline path");
                core::ProposerGreeting g;
                g.timeline = route.timeline;
                auto number = [&](const char* key, auto& out) {
                  if (!req.has_param(key)) return true;
                  auto n = parse_decimal(
                      req.get_param_value(key),
                      std::numeric_limits<std::remove_reference_t<decltype(out)>>::max());
                  if (!n) return false;
                  out = static_cast<std::remove_reference_t<decltype(out)>>(*n);
                  return true;
                };
                if (!number("system_id", g.system_id) || !number("wal_seg_size", g.wal_seg_size) ||
                    !number("pg_version", g.pg_version)) {
                  return bad("system_id, wal_seg_size and pg_version must be unsigned integers");
                }
                if (auto tl = find(g.timeline)) {
                  res.set_content(timeline_json(tl->status()), "application/json");
                  return;
                }
                auto result = std::make_shared<std::promise<std::pair<std::shared_ptr<Timeline>, std::string>>>();
                auto future = result->get_future();
                create_timeline(g, [result](std::shared_ptr<Timeline> tl, std::string error) {
                  result->set_value({std::move(tl), std::move(error)});
                });
                if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
                  res.status = 503;
                  res.set_content("{\"error\":\"timed out creating the timeline\"}", "application/json");
                  return;
                }
                auto [tl, error] = future.get();
                if (!tl) return bad(error);
                res.status = 201;
                res.set_content(timeline_json(tl->status()), "application/json");
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
  if (auto st = write_small_file(config_.data_dir, "http.port", fmt::format("{}\n", port)); !st) {
    return st;
  }
  spdlog::info("event=listening port=http address={}:{}", config_.listen_http.host, port);
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  return base::Ok{};
}

}  // namespace wq::safekeeper
