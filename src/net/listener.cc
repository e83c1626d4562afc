// Listener (see listener.h).
#include "net/listener.h"

#include <spdlog/spdlog.h>

namespace wq::net {

base::Result<std::shared_ptr<Listener>> Listener::open(asio::io_context& io, const HostPort& at) {
  auto fail = [&](const char* step, const asio::error_code& ec) {
    return base::Unexpected{base::ErrorCode::kIo,
                            fmt::format("cannot listen on {}: {}: {}", at.to_string(), step,
                                        ec.message())};
  };
  asio::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(at.host, std::to_string(at.port),
                                    asio::ip::tcp::resolver::passive, ec);
  if (ec) return fail("resolve", ec);
  if (endpoints.empty()) return fail("resolve", asio::error::host_not_found);
  auto endpoint = endpoints.begin()->endpoint();
  std::shared_ptr<Listener> l(new Listener(io));
  l->acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("socket", ec);
  l->acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR", ec);
  l->acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind", ec);
  l->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen", ec);
  auto local = l->acceptor_.local_endpoint(ec);
  if (ec) return fail("getsockname", ec);
  l->port_ = local.port();
  return l;
}

void Listener::start(AcceptHandler on_accept) {
  on_accept_ = std::move(on_accept);
  do_accept();
}

void Listener::stop() {
  asio::error_code ec;
  acceptor_.close(ec);
}

void Listener::do_accept() {
  acceptor_.async_accept([self = shared_from_this()](const asio::error_code& ec,
                                                     asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (ec) {
      spdlog::warn("event=accept_failed port={} error=\"{}\"", self->port_, ec.message());
    } else {
      self->on_accept_(std::move(socket));
    }
    self->do_accept();
  });
}

}  // namespace wq::net
