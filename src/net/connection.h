// FramedConnection: one TCP connection carrying length-prefixed frames
// (codec/frame.h) in both directions, with a bounded outbound queue, an idle
// (read) timeout and a single close path that logs why. Used by the safekeeper
// for its --listen-wal port and by proposer-side clients. Part of src/net.
//
// Threading: every handler runs on the connection's own strand. send(),
// close() and close_after_flush() may be called from any thread (they post to
// the strand). The frame handler is called on the strand with a span that is
// valid only during the call. Asio is used only through error_code overloads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <asio.hpp>

#include "codec/frame.h"
#include "net/address.h"

namespace wq::net {

struct ConnectionOptions {
  std::size_t frame_bytes_max = codec::kFrameBytesMax;
  // Encoded bytes queued for sending; a peer that does not read is cut off.
  std::size_t outbound_bytes_max = 96 * 1024 * 1024;
  // Close when nothing was received for this long; 0 disables.
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t read_chunk_bytes = 256 * 1024;
};

class FramedConnection : public std::enable_shared_from_this<FramedConnection> {
 public:
  using FrameHandler = std::function<void(std::span<const std::uint8_t> payload)>;
  using CloseHandler = std::function<void(const std::string& reason)>;

  // `name` appears in every log line of this connection (e.g. "wal conn 7 from 127.0.0.1:4242").
  static std::shared_ptr<FramedConnection> create(asio::ip::tcp::socket socket,
                                                  ConnectionOptions options, std::string name);

  // Starts reading. on_frame gets each complete payload; on_close is called once,
  // on the strand, when the connection closes for any reason.
  void start(FrameHandler on_frame, CloseHandler on_close);

  // Queues one payload (the frame header is added here). Returns false if the
  // connection is already closed. If the queue would pass outbound_bytes_max the
  // connection is closed ("outbound queue full").
  bool send(std::vector<std::uint8_t> payload);
  // Closes now, dropping queued output; logs `reason`.
  void close(std::string reason);
  // Closes once every queued frame is written (used after a final refusal).
  void close_after_flush(std::string reason);

  bool is_open() const { return open_.load(std::memory_order_acquire); }
  const std::string& name() const { return name_; }
  std::string remote_address() const { return remote_; }
  asio::strand<asio::any_io_executor>& strand() { return strand_; }

 private:
  FramedConnection(asio::ip::tcp::socket socket, ConnectionOptions options, std::string name);
  void do_read();
  void on_read(const asio::error_code& ec, std::size_t n);
  void do_write();
  void on_write(const asio::error_code& ec, std::size_t n);
  void arm_idle_timer();
  void close_now(const std::string& reason);

  asio::strand<asio::any_io_executor> strand_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer idle_timer_;
  ConnectionOptions options_;
  std::string name_;
  std::string remote_;
  codec::FrameReader reader_;
  std::vector<std::uint8_t> read_buf_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  // Strand-only state.
  std::deque<std::vector<std::uint8_t>> outbound_;  // encoded frames
  std::size_t outbound_bytes_ = 0;
  std::size_t writing_frames_ = 0;  // frames of outbound_ in the current async_write
  bool closed_ = false;
  bool closing_after_flush_ = false;
  std::string close_reason_;
  std::chrono::steady_clock::time_point last_read_;
  std::atomic<bool> open_{true};
};

// Connects to `target` within `timeout`; `done` runs on an executor of `io`
// with the connected socket or the error (timeout is asio::error::timed_out).
// Name resolution is synchronous (addresses are literals or local names).
void async_connect(asio::io_context& io, const HostPort& target, std::chrono::milliseconds timeout,
                   std::function<void(const asio::error_code&, asio::ip::tcp::socket)> done);

}  // namespace wq::net
