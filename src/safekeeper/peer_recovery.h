// PeerRecovery: the safekeeper's client side of peer recovery (docs/PROTOCOL.md
// rule 10, ARCHITECTURE.md §3). One scheduler per process, on the network
// thread: a timer (only when --peers is set) walks the timelines and starts a
// round for each that wants one (Timeline::recovery_wanted: corrupt, just
// loaded, or a proposer announced a commit above our flush, and no proposer
// spoke for a second), at most kRoundsMax at once.
//
// A round visits the peers in turn: connect, ProposerGreeting, then
// PeerFetchRequest{from, 4 MiB} one at a time, each reply handed to the
// timeline's acceptor (core::Acceptor::on_peer_fetch_response; its writes go
// through the normal I/O thread path), until the peer refuses (kNotServing:
// nothing committed beyond our end) or the acceptor says caught up. A round
// stops early, without error, when a proposer starts talking to the timeline.
// Errors end the round with a backoff (Timeline::recovery_release).
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "net/address.h"
#include "safekeeper/metrics.h"
#include "safekeeper/timeline.h"

namespace wq::safekeeper {

class PeerRecovery : public std::enable_shared_from_this<PeerRecovery> {
 public:
  using ListTimelines = std::function<std::vector<std::shared_ptr<Timeline>>()>;
  PeerRecovery(asio::io_context& io, std::vector<net::HostPort> peers, core::NodeId self,
               Metrics& metrics, ListTimelines list);

  void start();  // no-op without peers
  void stop();

  static constexpr int kRoundsMax = 4;
  static constexpr std::chrono::milliseconds kScanInterval{250};

 private:
  void scan();
  void arm();

  asio::io_context& io_;
  std::vector<net::HostPort> peers_;
  core::NodeId self_;
  Metrics& metrics_;
  ListTimelines list_;
  asio::steady_timer timer_;
  std::shared_ptr<int> active_ = std::make_shared<int>(0);  // rounds running (network thread)
  std::size_t next_peer_ = 0;
  bool stopped_ = false;
};

}  // namespace wq::safekeeper
