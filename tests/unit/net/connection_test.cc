// net/connection + net/listener over loopback: frames round trip in order, an
// oversized frame and garbage close the connection with a reason, the idle
// timeout closes a silent peer, and a connect to a closed port fails cleanly.
// Every wait is io_context::run_for in a loop bounded by a deadline.
#include "net/connection.h"

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "net/listener.h"

namespace wq::net {
namespace {

using namespace std::chrono_literals;

template <typename Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(10ms);
  }
  return done();
}

struct Server {
  std::shared_ptr<Listener> listener;
  std::vector<std::shared_ptr<FramedConnection>> conns;
  std::vector<std::vector<std::uint8_t>> frames;
  std::vector<std::string> close_reasons;
};

void start_server(asio::io_context& io, Server& s, ConnectionOptions opts, bool echo) {
  auto l = Listener::open(io, HostPort{"127.0.0.1", 0});
  REQUIRE(l);
  s.listener = *l;
  CHECK(s.listener->port() != 0);
  s.listener->start([&io, &s, opts, echo](asio::ip::tcp::socket sock) {
    (void)io;
    auto c = FramedConnection::create(std::move(sock), opts, "test server conn");
    s.conns.push_back(c);
    std::weak_ptr<FramedConnection> w = c;
    c->start(
        [&s, w, echo](std::span<const std::uint8_t> p) {
          s.frames.emplace_back(p.begin(), p.end());
          if (auto c2 = w.lock(); c2 && echo) c2->send(std::vector<std::uint8_t>(p.begin(), p.end()));
        },
        [&s](const std::string& reason) { s.close_reasons.push_back(reason); });
  });
}

std::shared_ptr<FramedConnection> connect_client(asio::io_context& io, std::uint16_t port,
                                                 std::vector<std::vector<std::uint8_t>>& got,
                                                 std::string& closed) {
  std::shared_ptr<FramedConnection> conn;
  bool done = false;
  async_connect(io, HostPort{"127.0.0.1", port}, 2000ms,
                [&](const asio::error_code& ec, asio::ip::tcp::socket sock) {
                  done = true;
                  REQUIRE_FALSE(ec);
                  conn = FramedConnection::create(std::move(sock), ConnectionOptions{}, "client");
                  conn->start([&got](std::span<const std::uint8_t> p) { got.emplace_back(p.begin(), p.end()); },
                              [&closed](const std::string& r) { closed = r; });
                });
  REQUIRE(run_until(io, [&] { return done; }));
  return conn;
}

}  // namespace

TEST_CASE("frames round trip in order through an echo server") {
  asio::io_context io;
  Server s;
  start_server(io, s, ConnectionOptions{}, true);
  std::vector<std::vector<std::uint8_t>> got;
  std::string closed;
  auto c = connect_client(io, s.listener->port(), got, closed);
  std::vector<std::vector<std::uint8_t>> sent;
  for (int i = 0; i < 200; ++i) {
    std::vector<std::uint8_t> p(static_cast<std::size_t>(1 + i * 997 % 70000), static_cast<std::uint8_t>(i));
    sent.push_back(p);
    CHECK(c->send(p));
  }
  REQUIRE(run_until(io, [&] { return got.size() == sent.size(); }));
  CHECK(got == sent);
  c->close("test done");
  REQUIRE(run_until(io, [&] { return !s.close_reasons.empty(); }));
  CHECK(closed == "test done");
  CHECK_FALSE(c->send({1}));
}

TEST_CASE("an oversized frame closes the connection with a reason") {
  asio::io_context io;
  Server s;
  ConnectionOptions opts;
  opts.frame_bytes_max = 1024;
  start_server(io, s, opts, false);
  std::vector<std::vector<std::uint8_t>> got;
  std::string closed;
  auto c = connect_client(io, s.listener->port(), got, closed);
  c->send(std::vector<std::uint8_t>(2000, 1));
  REQUIRE(run_until(io, [&] { return !s.close_reasons.empty(); }));
  CHECK(s.close_reasons[0].find("bad frame") != std::string::npos);
  CHECK(s.frames.empty());
  REQUIRE(run_until(io, [&] { return !closed.empty(); }));
}

TEST_CASE("the idle timeout closes a silent peer") {
  asio::io_context io;
  Server s;
  ConnectionOptions opts;
  opts.idle_timeout = 100ms;
  start_server(io, s, opts, false);
  std::vector<std::vector<std::uint8_t>> got;
  std::string closed;
  auto c = connect_client(io, s.listener->port(), got, closed);
  REQUIRE(run_until(io, [&] { return !s.close_reasons.empty(); }));
  CHECK(s.close_reasons[0].find("idle") != std::string::npos);
}

TEST_CASE("the outbound queue bound closes a connection instead of growing") {
  asio::io_context io;
  Server s;
  start_server(io, s, ConnectionOptions{}, false);
  std::vector<std::vector<std::uint8_t>> got;
  std::string closed;
  std::shared_ptr<FramedConnection> conn;
  bool done = false;
  async_connect(io, HostPort{"127.0.0.1", s.listener->port()}, 2000ms,
                [&](const asio::error_code& ec, asio::ip::tcp::socket sock) {
                  done = true;
                  REQUIRE_FALSE(ec);
                  ConnectionOptions small;
                  small.outbound_bytes_max = 10000;
                  conn = FramedConnection::create(std::move(sock), small, "client");
                  conn->start([](std::span<const std::uint8_t>) {},
                              [&closed](const std::string& r) { closed = r; });
                });
  REQUIRE(run_until(io, [&] { return done; }));
  // Queued in one strand turn, before any write can complete.
  for (int i = 0; i < 5; ++i) conn->send(std::vector<std::uint8_t>(4000, 2));
  REQUIRE(run_until(io, [&] { return !closed.empty(); }));
  CHECK(closed.find("outbound queue full") != std::string::npos);
}

TEST_CASE("connecting to a closed port reports an error") {
  asio::io_context io;
  std::uint16_t port = 0;
  {
    auto l = Listener::open(io, HostPort{"127.0.0.1", 0});
    REQUIRE(l);
    port = (*l)->port();
    (*l)->stop();
  }
  bool done = false;
  asio::error_code got;
  async_connect(io, HostPort{"127.0.0.1", port}, 2000ms,
                [&](const asio::error_code& ec, asio::ip::tcp::socket) {
                  done = true;
                  got = ec;
                });
  REQUIRE(run_until(io, [&] { return done; }));
  CHECK(got);
}

}  // namespace wq::net
