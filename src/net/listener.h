// Listener: accepts TCP connections on HOST:PORT and hands each socket to a
// callback. Port 0 asks the kernel for a free port (port() tells which), which
// is how tests run many daemons on one machine. Part of src/net.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <asio.hpp>

#include "base/result.h"
#include "net/address.h"

namespace wq::net {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using AcceptHandler = std::function<void(asio::ip::tcp::socket)>;

  // Resolves, binds (SO_REUSEADDR) and listens. kIo naming the address on failure.
  static base::Result<std::shared_ptr<Listener>> open(asio::io_context& io, const HostPort& at);

  // Accepts until stop(); each socket goes to on_accept. Accept errors other than
  // cancellation are logged and accepting continues.
  void start(AcceptHandler on_accept);
  void stop();
  std::uint16_t port() const { return port_; }

 private:
  explicit Listener(asio::io_context& io) : acceptor_(io) {}
  void do_accept();

  asio::ip::tcp::acceptor acceptor_;
  AcceptHandler on_accept_;
  std::uint16_t port_ = 0;
};

}  // namespace wq::net
