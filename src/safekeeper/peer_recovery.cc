// Peer recovery rounds and their scheduler (see peer_recovery.h).
#include "safekeeper/peer_recovery.h"

#include <spdlog/spdlog.h>

#include "codec/messages.h"
#include "net/connection.h"

namespace wq::safekeeper {

namespace {

constexpr auto kConnectTimeout = std::chrono::milliseconds(2000);
constexpr auto kPeerIdleTimeout = std::chrono::milliseconds(10'000);

using Kind = core::Acceptor::PeerFetchOutcome::Kind;

// One round for one timeline: the peers in turn, one request in flight. All
// state lives on the round's strand; a generation number drops callbacks of a
// connection the round has moved past.
class Round : public std::enable_shared_from_this<Round> {
 public:
  using End = std::function<void(bool caught_up, std::string error)>;
  Round(asio::io_context& io, std::vector<net::HostPort> peers, std::shared_ptr<Timeline> tl,
        core::NodeId self, End end)
      : io_(io),
        strand_(asio::make_strand(io.get_executor())),
        peers_(std::move(peers)),
        tl_(std::move(tl)),
        self_(self),
        end_(std::move(end)) {}

  void start() {
    asio::post(strand_, [self = shared_from_this()] { self->next_peer(); });
  }

 private:
  enum class State { kIdle, kGreeting, kFetching, kApplying };

  void next_peer() {
    close_conn();
    if (idx_ == peers_.size() || tl_->proposer_active(std::chrono::steady_clock::now())) {
      interrupted_ = idx_ != peers_.size();
      finish();
      return;
    }
    peer_ = peers_[idx_++];
    ++gen_;
    peer_bytes_ = 0;
    peer_t0_ = std::chrono::steady_clock::now();
    net::async_connect(io_, peer_, kConnectTimeout,
                       [self = shared_from_this(), g = gen_](const asio::error_code& ec,
                                                             asio::ip::tcp::socket s) mutable {
                         asio::post(self->strand_, [self, g, ec, s = std::move(s)]() mutable {
                           if (g == self->gen_) self->on_connected(ec, std::move(s));
                         });
                       });
  }

  void on_connected(const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      peer_failed(fmt::format("connect to {}: {}", peer_.to_string(), ec.message()));
      return;
    }
    net::ConnectionOptions opts;
    opts.idle_timeout = kPeerIdleTimeout;
    conn_ = net::FramedConnection::create(
        std::move(socket), opts,
        fmt::format("peer recovery {} from {}", tl_->key().to_string(), peer_.to_string()));
    auto self = shared_from_this();
    std::uint64_t g = gen_;
    conn_->start(
        [self, g](std::span<const std::uint8_t> p) {
          std::vector<std::uint8_t> copy(p.begin(), p.end());
          asio::post(self->strand_, [self, g, c = std::move(copy)] {
            if (g == self->gen_) self->on_frame(c);
          });
        },
        [self, g](const std::string& reason) {
          asio::post(self->strand_, [self, g, reason] {
            if (g == self->gen_) self->peer_failed("connection closed: " + reason);
          });
        });
    state_ = State::kGreeting;
    conn_->send(codec::encode(core::ProposerMessage(tl_->recovery_greeting(self_))));
  }

  void on_frame(const std::vector<std::uint8_t>& payload) {
    auto decoded = codec::decode_acceptor_message(payload);
    if (!decoded) {
      peer_failed(fmt::format("malformed reply: {}", decoded.error().message));
      return;
    }
    core::AcceptorMessage& m = *decoded;
    if (const auto* r = std::get_if<core::Refused>(&m)) {
      if (state_ == State::kFetching && r->reason == core::RefuseReason::kNotServing) {
        peer_done();  // nothing committed there beyond our end
      } else {
        peer_failed(fmt::format("refused: {}: {}", core::refuse_reason_name(r->reason), r->detail));
      }
      return;
    }
    if (state_ == State::kGreeting && std::holds_alternative<core::AcceptorGreeting>(m)) {
      request_next();
      return;
    }
    if (state_ == State::kFetching) {
      if (auto* resp = std::get_if<core::PeerFetchResponse>(&m)) {
        state_ = State::kApplying;
        std::uint64_t n = resp->wal.size();
        tl_->post_peer_fetch_response(
            std::move(*resp), [self = shared_from_this(), g = gen_, n](Kind kind, std::string why) {
              asio::post(self->strand_, [self, g, n, kind, why = std::move(why)] {
                if (g == self->gen_) self->on_applied(kind, n, why);
              });
            });
        return;
      }
    }
    peer_failed(fmt::format("unexpected reply {}", codec::message_name(m)));
  }

  void request_next() {
    if (tl_->proposer_active(std::chrono::steady_clock::now())) {
      // A proposer streams to us now: it brings us up to date itself.
      interrupted_ = true;
      idx_ = peers_.size();
      next_peer();
      return;
    }
    tl_->post_recovery_from([self = shared_from_this(), g = gen_](core::Lsn from) {
      asio::post(self->strand_, [self, g, from] {
        if (g != self->gen_ || !self->conn_) return;
        self->state_ = State::kFetching;
        core::PeerFetchRequest req;
        req.from_lsn = from;
        req.max_bytes = static_cast<std::uint32_t>(core::kPeerFetchBytesMax);
        self->conn_->send(codec::encode(core::ProposerMessage(req)));
      });
    });
  }

  void on_applied(Kind kind, std::uint64_t n, const std::string& why) {
    switch (kind) {
      case Kind::kAppended:
        peer_bytes_ += n;
        request_next();
        return;
      case Kind::kTruncated:
        request_next();
        return;
      case Kind::kCaughtUp:
        peer_done();
        return;
      case Kind::kIgnored:
        peer_failed("reply not taken: " + why);
        return;
    }
  }

  void log_peer(const char* outcome, const std::string& detail) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - peer_t0_).count();
    double mbps = s > 0 ? static_cast<double>(peer_bytes_) / s / 1e6 : 0.0;
    if (peer_bytes_ > 0 || !detail.empty()) {
      spdlog::info("event=peer_recovery_{} timeline={} peer={} bytes={} seconds={:.3f} "
                   "mb_per_s={:.1f} detail=\"{}\"",
                   outcome, tl_->key().to_string(), peer_.to_string(), peer_bytes_, s, mbps,
                   detail);
    }
  }

  void peer_done() {
    log_peer("done", "");
    next_peer();
  }

  void peer_failed(const std::string& why) {
    log_peer("failed", why);
    error_ += (error_.empty() ? "" : "; ") + peer_.to_string() + ": " + why;
    next_peer();
  }

  void close_conn() {
    ++gen_;
    state_ = State::kIdle;
    if (conn_) conn_->close("peer recovery: done with this peer");
    conn_.reset();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    end_(error_.empty() && !interrupted_, interrupted_ && error_.empty()
                                              ? std::string("a proposer became active")
                                              : error_);
  }

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  std::vector<net::HostPort> peers_;
  std::shared_ptr<Timeline> tl_;
  core::NodeId self_;
  End end_;
  std::size_t idx_ = 0;
  std::uint64_t gen_ = 0;
  net::HostPort peer_;
  std::shared_ptr<net::FramedConnection> conn_;
  State state_ = State::kIdle;
  std::string error_;
  bool interrupted_ = false;
  bool finished_ = false;
  std::uint64_t peer_bytes_ = 0;
  std::chrono::steady_clock::time_point peer_t0_{};
};

}  // namespace

PeerRecovery::PeerRecovery(asio::io_context& io, std::vector<net::HostPort> peers,
                           core::NodeId self, Metrics& metrics, ListTimelines list)
    : io_(io),
      peers_(std::move(peers)),
      self_(self),
      metrics_(metrics),
      list_(std::move(list)),
      timer_(io) {}

void PeerRecovery::start() {
  if (peers_.empty()) return;  // no timer at all: an idle safekeeper stays idle
  arm();
}

void PeerRecovery::stop() {
  asio::post(io_, [self = shared_from_this()] {
    self->stopped_ = true;
    self->timer_.cancel();
  });
}

void PeerRecovery::arm() {
  timer_.expires_after(kScanInterval);
  timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->stopped_) return;
    self->scan();
    self->arm();
  });
}

void PeerRecovery::scan() {
  auto now = std::chrono::steady_clock::now();
  for (auto& tl : list_()) {
    if (*active_ >= kRoundsMax) return;
    if (!tl->recovery_wanted(now)) continue;
    // Rotate the first peer so rounds spread over the peers.
    std::vector<net::HostPort> order;
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      order.push_back(peers_[(next_peer_ + i) % peers_.size()]);
    }
    next_peer_ = (next_peer_ + 1) % peers_.size();
    if (!tl->recovery_claim(order.front().to_string())) continue;
    ++*active_;
    metrics_.peer_recoveries_active.fetch_add(1);
    auto round = std::make_shared<Round>(
        io_, std::move(order), tl, self_,
        [tl, active = active_, &metrics = metrics_, io = &io_](bool caught_up, std::string error) {
          tl->recovery_release(caught_up, error);
          metrics.peer_recoveries_active.fetch_sub(1);
          // The counter belongs to the network thread, like scan().
          asio::post(*io, [active] { --*active; });
        });
    round->start();
  }
}

}  // namespace wq::safekeeper
