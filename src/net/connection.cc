// FramedConnection and async_connect (see connection.h).
#include "net/connection.h"

#include <spdlog/spdlog.h>

#include "base/assert.h"

namespace wq::net {

namespace {
constexpr std::size_t kFramesPerWriteMax = 64;  // gather bound for one async_write
}  // namespace

std::shared_ptr<FramedConnection> FramedConnection::create(asio::ip::tcp::socket socket,
                                                           ConnectionOptions options,
                                                           std::string name) {
  return std::shared_ptr<FramedConnection>(
      new FramedConnection(std::move(socket), options, std::move(name)));
}

FramedConnection::FramedConnection(asio::ip::tcp::socket socket, ConnectionOptions options,
                                   std::string name)
    : strand_(asio::make_strand(socket.get_executor())),
      socket_(std::move(socket)),
      idle_timer_(strand_),
      options_(options),
      name_(std::move(name)),
      reader_(options.frame_bytes_max),
      read_buf_(options.read_chunk_bytes) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);  // acks are latency-critical
}

void FramedConnection::start(FrameHandler on_frame, CloseHandler on_close) {
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
  asio::post(strand_, [self = shared_from_this()] {
    self->last_read_ = std::chrono::steady_clock::now();
    self->arm_idle_timer();
    self->do_read();
  });
}

void FramedConnection::do_read() {
  if (closed_) return;
  socket_.async_read_some(
      asio::buffer(read_buf_),
      asio::bind_executor(strand_, [self = shared_from_this()](const asio::error_code& ec,
                                                               std::size_t n) {
        self->on_read(ec, n);
      }));
}

void FramedConnection::on_read(const asio::error_code& ec, std::size_t n) {
  if (closed_) return;
  if (ec) {
    close_now(ec == asio::error::eof ? "peer closed the connection"
                                     : fmt::format("read error: {}", ec.message()));
    return;
  }
  last_read_ = std::chrono::steady_clock::now();
  reader_.feed(std::span<const std::uint8_t>(read_buf_.data(), n));
  for (;;) {
    auto frame = reader_.next();
    if (!frame) {
      close_now(fmt::format("bad frame: {}", frame.error().message));
      return;
    }
    if (!frame->has_value()) break;
    on_frame_(**frame);
    if (closed_) return;  // the handler closed us
  }
  do_read();
}

bool FramedConnection::send(std::vector<std::uint8_t> payload) {
  if (!is_open()) return false;
  asio::post(strand_, [self = shared_from_this(), p = std::move(payload)]() mutable {
    if (self->closed_) return;
    std::size_t bytes = p.size() + codec::kFrameHeaderBytes;
    if (self->outbound_bytes_ + bytes > self->options_.outbound_bytes_max) {
      self->close_now(fmt::format("outbound queue full ({} bytes queued, bound {})",
                                  self->outbound_bytes_, self->options_.outbound_bytes_max));
      return;
    }
    self->outbound_.push_back(codec::encode_frame(p));
    self->outbound_bytes_ += bytes;
    if (self->writing_frames_ == 0) self->do_write();
  });
  return true;
}

void FramedConnection::do_write() {
  WQ_ASSERT(writing_frames_ == 0, "{}: overlapping writes", name_);
  if (outbound_.empty()) {
    if (closing_after_flush_) close_now(close_reason_);
    return;
  }
  std::vector<asio::const_buffer> bufs;
  for (auto& f : outbound_) {
    if (bufs.size() == kFramesPerWriteMax) break;
    bufs.push_back(asio::buffer(f));
  }
  writing_frames_ = bufs.size();
  asio::async_write(socket_, bufs,
                    asio::bind_executor(strand_, [self = shared_from_this()](
                                                     const asio::error_code& ec, std::size_t n) {
                      self->on_write(ec, n);
                    }));
}

void FramedConnection::on_write(const asio::error_code& ec, std::size_t /*n*/) {
  std::size_t done = writing_frames_;
  writing_frames_ = 0;
  if (closed_) return;
  if (ec) {
    close_now(fmt::format("write error: {}", ec.message()));
    return;
  }
  for (std::size_t i = 0; i < done; ++i) {
    outbound_bytes_ -= outbound_.front().size();
    outbound_.pop_front();
  }
  do_write();
}

void FramedConnection::arm_idle_timer() {
  if (options_.idle_timeout.count() == 0 || closed_) return;
  auto deadline = last_read_ + options_.idle_timeout;
  idle_timer_.expires_at(deadline);
  idle_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->closed_) return;
    if (std::chrono::steady_clock::now() - self->last_read_ >= self->options_.idle_timeout) {
      self->close_now(fmt::format("idle for {} ms (nothing received)",
                                  self->options_.idle_timeout.count()));
      return;
    }
    self->arm_idle_timer();
  });
}

void FramedConnection::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(reason)] { self->close_now(r); });
}

void FramedConnection::close_after_flush(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), r = std::move(reason)] {
    if (self->closed_) return;
    self->closing_after_flush_ = true;
    self->close_reason_ = r;
    if (self->writing_frames_ == 0) self->do_write();
  });
}

void FramedConnection::close_now(const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  open_.store(false, std::memory_order_release);
  spdlog::info("event=conn_closed conn=\"{}\" peer={} reason=\"{}\"", name_, remote_, reason);
  asio::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  idle_timer_.cancel();
  outbound_.clear();
  outbound_bytes_ = 0;
  if (on_close_) {
    auto cb = std::move(on_close_);
    on_close_ = nullptr;
    on_frame_ = nullptr;  // drops captures (e.g. a session holding this connection)
    cb(reason);
  }
}

void async_connect(asio::io_context& io, const HostPort& target, std::chrono::milliseconds timeout,
                   std::function<void(const asio::error_code&, asio::ip::tcp::socket)> done) {
  asio::ip::tcp::resolver resolver(io);
  asio::error_code ec;
  auto endpoints = resolver.resolve(target.host, std::to_string(target.port), ec);
  auto socket = std::make_shared<asio::ip::tcp::socket>(io);
  if (ec) {
    asio::post(io, [done = std::move(done), ec, socket]() mutable { done(ec, std::move(*socket)); });
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(io, timeout);
  auto finished = std::make_shared<bool>(false);
  auto cb = std::make_shared<decltype(done)>(std::move(done));
  timer->async_wait([socket, finished](const asio::error_code& tec) {
    if (tec || *finished) return;
    asio::error_code ignored;
    socket->close(ignored);  // completes the connect with operation_aborted
  });
  asio::async_connect(*socket, endpoints,
                      [socket, timer, finished, cb](const asio::error_code& cec,
                                                    const asio::ip::tcp::endpoint&) {
                        bool timed_out = std::chrono::steady_clock::now() >= timer->expiry();
                        *finished = true;
                        timer->cancel();
                        asio::error_code out = cec;
                        if (cec && timed_out) out = asio::error::timed_out;
                        (*cb)(out, std::move(*socket));
                      });
}

}  // namespace wq::net
