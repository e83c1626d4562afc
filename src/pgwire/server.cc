// ReplicationServer and its per-socket Connection (see server.h).
#include "pgwire/server.h"

#include <deque>

#include <spdlog/spdlog.h>

#include "base/assert.h"
#include "base/overloaded.h"

namespace wq::pgwire {

namespace {
constexpr std::int64_t kUnixToPgEpochUs = 946'684'800'000'000;  // 2000-01-01 in Unix µs
constexpr std::size_t kBuffersPerWriteMax = 64;
}  // namespace

std::int64_t pg_now_us() {
  auto since_unix = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return since_unix.count() - kUnixToPgEpochUs;
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, WalSource& source, const ServerOptions& options,
             std::uint64_t id, std::weak_ptr<ReplicationServer*> server)
      : strand_(asio::make_strand(socket.get_executor())),
        socket_(std::move(socket)),
        timer_(strand_),
        source_(source),
        options_(options),
        id_(id),
        server_(std::move(server)),
        session_([&] {
          SessionOptions s = options.session;
          s.backend_pid = static_cast<std::uint32_t>(id);
          return s;
        }()),
        read_buf_(options.read_chunk_bytes) {
    asio::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    remote_ = ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  }

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      spdlog::info("event=pg_conn_open conn={} peer={}", self->id_, self->remote_);
      self->arm_timer();
      self->do_read();
    });
  }

  // Tells the client the server is stopping, then closes (after close_linger
  // at the latest).
  void shutdown() {
    asio::post(strand_, [self = shared_from_this()] {
      self->apply(self->session_.on_shutdown(pg_now_us()));
    });
  }

  // Refuses the connection with a FATAL error (too many connections).
  void refuse(std::string sqlstate, std::string message) {
    asio::post(strand_, [self = shared_from_this(), s = std::move(sqlstate),
                         m = std::move(message)] {
      std::vector<std::uint8_t> bytes;
      ErrorFields e;
      e.severity = Severity::kFatal;
      e.sqlstate = s;
      e.message = m;
      encode_error_response(bytes, e);
      self->arm_timer();  // bounds the wait for a client that does not read
      self->enqueue(std::move(bytes));
      self->close_after_flush("refused: " + m);
    });
  }

 private:
  void do_read() {
    if (closed_ || closing_) return;
    socket_.async_read_some(
        asio::buffer(read_buf_),
        asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec,
                                                                 std::size_t n) {
          self->on_read(ec, n);
        }));
  }

  void on_read(const asio::error_code& ec, std::size_t n) {
    if (closed_ || closing_) return;
    if (ec) {
      if (ec == asio::error::eof) {
        apply(session_.on_eof(pg_now_us()));
        close_now("the client closed the connection");
      } else {
        close_now(fmt::format("read error: {}", ec.message()));
      }
      return;
    }
    refresh_commit();
    apply(session_.on_bytes(std::span<const std::uint8_t>(read_buf_.data(), n), pg_now_us()));
    do_read();
  }

  void refresh_commit() {
    if (stream_) apply(session_.on_commit_lsn(stream_->commit_lsn(), pg_now_us()));
  }

  // Executes one Session output: queue its bytes, run its requests, close.
  void apply(Output out) {
    if (closed_) return;
    if (!out.bytes.empty()) enqueue(std::move(out.bytes));
    for (Request& r : out.requests) {
      if (closed_) return;
      std::visit(base::Overloaded{
                     [&](OpenTimeline& o) { open(o); },
                     [&](ReadWal& rd) {
                       // A deferred read of an earlier stream (ended by CopyDone
                       // or an error) is stale: the session drops its result.
                       WQ_ASSERT(!deferred_read_ || deferred_read_->stream != rd.stream,
                                 "conn {}: two WAL reads requested for one stream", id_);
                       deferred_read_.reset();
                       if (outbound_bytes_ > options_.outbound_high_water_bytes) {
                         deferred_read_ = rd;  // resumed by on_write once the client reads
                       } else {
                         start_read(rd);
                       }
                     },
                     [&](WaitCommit& w) { wait_commit(w.after); },
                     [&](LearnerFeedback& f) {
                       if (stream_) stream_->on_learner_feedback(f);
                     },
                     [&](StandbyFeedback& h) {
                       if (stream_) stream_->on_hot_standby_feedback(h.feedback);
                     },
                     [&](ReadSlot& s) {
                       std::optional<Lsn> lsn;
                       if (stream_) lsn = stream_->slot_restart_lsn(s.slot);
                       apply(session_.on_slot(lsn, pg_now_us()));
                     },
                     [&](DropSlot& d) {
                       if (stream_) stream_->drop_slot(d.slot);
                     },
                 },
                 r);
    }
    if (out.close && !closed_) close_after_flush(out.close_reason);
  }

  void open(const OpenTimeline& o) {
    OpenRequest req{o.ref, o.user, o.application_name, remote_, id_};
    auto opened = source_.open(req);
    if (!opened) {
      spdlog::info("event=pg_open_failed conn={} peer={} tenant={} timeline={} error=\"{}\"", id_,
                   remote_, o.ref.tenant_id, o.ref.timeline_id, opened.error().message);
      apply(session_.on_opened(base::Unexpected{opened.error()}, pg_now_us()));
      return;
    }
    WQ_ASSERT(opened->stream != nullptr, "WalSource::open returned no stream");
    stream_ = std::move(opened->stream);
    spdlog::info("event=pg_conn_ready conn={} peer={} application_name=\"{}\" tenant={} timeline={} "
                 "commit_lsn={}",
                 id_, remote_, o.application_name, o.ref.tenant_id, o.ref.timeline_id,
                 opened->info.commit_lsn);
    apply(session_.on_opened(std::move(opened->info), pg_now_us()));
  }

  void start_read(const ReadWal& rd) {
    if (!stream_) return;
    std::weak_ptr<Connection> weak = weak_from_this();
    stream_->read(rd.from, rd.to,
                  [weak, rd](base::Result<std::vector<std::uint8_t>> bytes) mutable {
                    auto self = weak.lock();
                    if (!self) return;
                    asio::post(self->strand_, [self, rd, b = std::move(bytes)]() mutable {
                      if (self->closed_) return;
                      self->apply(self->session_.on_wal(rd.stream, rd.from, std::move(b),
                                                        pg_now_us()));
                    });
                  });
  }

  void wait_commit(Lsn after) {
    if (!stream_ || waiting_commit_) return;
    waiting_commit_ = true;
    std::weak_ptr<Connection> weak = weak_from_this();
    stream_->wait_commit(after, [weak] {
      auto self = weak.lock();
      if (!self) return;
      asio::post(self->strand_, [self] {
        self->waiting_commit_ = false;
        if (self->closed_) return;
        self->refresh_commit();
      });
    });
  }

  void enqueue(std::vector<std::uint8_t> bytes) {
    if (closed_) return;
    if (outbound_bytes_ + bytes.size() > options_.outbound_bytes_max) {
      close_now(fmt::format("the client does not read: {} bytes queued, bound {}", outbound_bytes_,
                            options_.outbound_bytes_max));
      return;
    }
    outbound_bytes_ += bytes.size();
    outbound_.push_back(std::move(bytes));
    if (writing_ == 0) do_write();
  }

  void do_write() {
    WQ_ASSERT(writing_ == 0, "conn {}: overlapping writes", id_);
    if (outbound_.empty()) {
      if (closing_) close_now(close_reason_);
      return;
    }
    std::vector<asio::const_buffer> bufs;
    for (auto& b : outbound_) {
      if (bufs.size() == kBuffersPerWriteMax) break;
      bufs.push_back(asio::buffer(b));
    }
    writing_ = bufs.size();
    asio::async_write(socket_, bufs,
                      asio::bind_executor(strand_, [self = shared_from_this()](
                                                       const asio::error_code& ec, std::size_t) {
                        self->on_write(ec);
                      }));
  }

  void on_write(const asio::error_code& ec) {
    std::size_t done = writing_;
    writing_ = 0;
    if (closed_) return;
    if (ec) {
      close_now(fmt::format("write error: {}", ec.message()));
      return;
    }
    for (std::size_t i = 0; i < done; ++i) {
      outbound_bytes_ -= outbound_.front().size();
      outbound_.pop_front();
    }
    if (deferred_read_ && outbound_bytes_ <= options_.outbound_high_water_bytes / 2) {
      ReadWal rd = *deferred_read_;
      deferred_read_.reset();
      start_read(rd);
    }
    do_write();
  }

  void arm_timer() {
    if (closed_) return;
    timer_.expires_after(options_.tick_interval);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->closed_) return;
      if (self->closing_) {
        if (std::chrono::steady_clock::now() - self->closing_since_ >= self->options_.close_linger) {
          self->close_now(self->close_reason_ + " (unsent bytes dropped: the client does not read)");
          return;
        }
      } else {
        self->refresh_commit();
        self->apply(self->session_.on_tick(pg_now_us()));
      }
      self->arm_timer();
    });
  }

  void close_after_flush(const std::string& reason) {
    if (closed_ || closing_) return;
    closing_ = true;
    closing_since_ = std::chrono::steady_clock::now();
    close_reason_ = reason;
    // Nothing more is read; the read in progress completes with an error or is ignored.
    if (writing_ == 0) do_write();
  }

  void close_now(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    spdlog::info("event=pg_conn_closed conn={} peer={} application_name=\"{}\" reason=\"{}\"", id_,
                 remote_, session_.application_name(), reason);
    asio::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
    outbound_.clear();
    outbound_bytes_ = 0;
    deferred_read_.reset();
    stream_.reset();  // the host drops this learner's waiters
    if (auto server = server_.lock()) (*server)->forget(id_);
  }

  asio::strand<asio::any_io_executor> strand_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  WalSource& source_;
  const ServerOptions options_;  // a copy: a connection may outlive the server by a few handlers
  std::uint64_t id_;
  std::weak_ptr<ReplicationServer*> server_;
  std::string remote_;
  Session session_;
  std::unique_ptr<WalStream> stream_;
  std::vector<std::uint8_t> read_buf_;
  std::deque<std::vector<std::uint8_t>> outbound_;
  std::size_t outbound_bytes_ = 0;
  std::size_t writing_ = 0;  // buffers of outbound_ in the current async_write
  std::optional<ReadWal> deferred_read_;
  bool waiting_commit_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::string close_reason_;
  std::chrono::steady_clock::time_point closing_since_;
};

ReplicationServer::ReplicationServer(asio::io_context& io, WalSource& source,
                                     ServerOptions options)
    : io_(io),
      source_(source),
      options_(std::move(options)),
      self_(std::make_shared<ReplicationServer*>(this)) {
  WQ_ASSERT(options_.outbound_high_water_bytes < options_.outbound_bytes_max,
            "outbound high water {} must be below the bound {}", options_.outbound_high_water_bytes,
            options_.outbound_bytes_max);
}

ReplicationServer::~ReplicationServer() {
  stop();
  self_.reset();
}

base::Status ReplicationServer::listen(const net::HostPort& at) {
  auto l = net::Listener::open(io_, at);
  if (!l) return base::Unexpected{l.error()};
  listener_ = *l;
  listener_->start([this](asio::ip::tcp::socket s) { serve(std::move(s)); });
  spdlog::info("event=listening port=pg address={}:{}", at.host, listener_->port());
  return base::Ok{};
}

std::uint16_t ReplicationServer::port() const { return listener_ ? listener_->port() : 0; }

void ReplicationServer::serve(asio::ip::tcp::socket socket) {
  std::shared_ptr<Connection> conn;
  bool refuse = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_) {
      asio::error_code ec;
      socket.close(ec);
      return;
    }
    refuse = connections_.size() >= options_.connections_max;
    conn = std::make_shared<Connection>(std::move(socket), source_, options_, ++next_id_, self_);
    if (!refuse) connections_[next_id_] = conn;
  }
  if (refuse) {
    conn->refuse("53300", fmt::format("too many replication connections (at most {})",
                                      options_.connections_max));
    return;
  }
  conn->start();
}

void ReplicationServer::stop() {
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [id, weak] : connections_) {
      if (auto c = weak.lock()) live.push_back(std::move(c));
    }
  }
  if (listener_) listener_->stop();
  for (auto& c : live) c->shutdown();
}

std::size_t ReplicationServer::connection_count() const {
  std::lock_guard lock(mu_);
  return connections_.size();
}

void ReplicationServer::forget(std::uint64_t id) {
  std::lock_guard lock(mu_);
  connections_.erase(id);
}

}  // namespace wq::pgwire
