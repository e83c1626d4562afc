// Unit tests for src/pgwire/server.h over real loopback sockets: a fake
// WalSource, a blocking client. Back-pressure (WAL is not read ahead of a
// client that does not read), commit-LSN waits, open failures, the
// connection bound and stop().
#include "pgwire/server.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <thread>

#include <doctest/doctest.h>

#include "backend.h"

namespace wq::pgwire {
namespace {

using test::Bytes;
using test::Msg;

std::uint8_t wal_byte(std::uint64_t lsn) { return static_cast<std::uint8_t>(lsn ^ (lsn >> 11)); }

struct State {
  std::mutex mu;
  std::condition_variable changed;  // notified on every change below
  Lsn commit;
  std::uint64_t bytes_read = 0;  // WAL bytes handed to the server
  int live_streams = 0;
  std::vector<std::function<void()>> waiters;
  std::vector<LearnerFeedback> feedback;

  void set_commit(Lsn l) {
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(mu);
      commit = l;
      ready.swap(waiters);
    }
    changed.notify_all();
    for (auto& w : ready) w();
  }
  std::uint64_t read_so_far() {
    std::lock_guard lock(mu);
    return bytes_read;
  }
  int streams() {
    std::lock_guard lock(mu);
    return live_streams;
  }
};

class FakeStream : public WalStream {
 public:
  explicit FakeStream(State& s) : s_(s) {
    std::lock_guard lock(s_.mu);
    ++s_.live_streams;
    s_.changed.notify_all();
  }
  ~FakeStream() override {
    std::lock_guard lock(s_.mu);
    --s_.live_streams;
    s_.waiters.clear();
    s_.changed.notify_all();
  }
  Lsn commit_lsn() override {
    std::lock_guard lock(s_.mu);
    return s_.commit;
  }
  void read(Lsn from, Lsn to, ReadDone done) override {
    REQUIRE(to <= commit_lsn());
    Bytes b(to - from);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = wal_byte(from.value() + i);
    {
      std::lock_guard lock(s_.mu);
      s_.bytes_read += b.size();
    }
    s_.changed.notify_all();
    done(std::move(b));
  }
  void wait_commit(Lsn after, std::function<void()> done) override {
    std::unique_lock lock(s_.mu);
    if (s_.commit > after) {
      lock.unlock();
      done();
      return;
    }
    s_.waiters.push_back(std::move(done));
    s_.changed.notify_all();
  }
  void on_learner_feedback(const LearnerFeedback& f) override {
    std::lock_guard lock(s_.mu);
    s_.feedback.push_back(f);
    s_.changed.notify_all();
  }
  std::optional<Lsn> slot_restart_lsn(const std::string&) override { return std::nullopt; }

 private:
  State& s_;
};

class FakeSource : public WalSource {
 public:
  explicit FakeSource(State& s) : s_(s) {}
  base::Result<OpenedStream> open(const OpenRequest& req) override {
    if (req.ref.timeline_id != std::string(32, '2')) {
      return base::Unexpected{base::ErrorCode::kNotFound, "timeline not found here"};
    }
    OpenedStream o;
    o.info.system_id = 1;
    o.info.commit_lsn = s_.commit;
    o.stream = std::make_unique<FakeStream>(s_);
    return o;
  }

 private:
  State& s_;
};

// A server on its own io thread.
struct Fixture {
  State state;
  FakeSource source{state};
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::unique_ptr<ReplicationServer> server;
  std::thread thread;

  explicit Fixture(ServerOptions o) {
    guard.emplace(io.get_executor());
    server = std::make_unique<ReplicationServer>(io, source, o);
    REQUIRE(server->listen(net::HostPort{"127.0.0.1", 0}).has_value());
    thread = std::thread([this] { io.run(); });
  }
  ~Fixture() {
    server->stop();
    // Let the closes stop() posted run (handlers run in order on the one
    // thread; the guard keeps run() going until the marker), then end it.
    std::promise<void> drained;
    asio::post(io, [&] { drained.set_value(); });
    guard.reset();
    drained.get_future().wait_for(std::chrono::seconds(5));
    io.stop();
    thread.join();
  }
};

// Blocking client.
struct Client {
  asio::io_context io;
  asio::ip::tcp::socket sock{io};
  Bytes buf;

  explicit Client(std::uint16_t port, int rcvbuf = 0) {
    asio::error_code ec;
    sock.open(asio::ip::tcp::v4(), ec);
    REQUIRE(!ec);
    if (rcvbuf > 0) sock.set_option(asio::socket_base::receive_buffer_size(rcvbuf), ec);
    sock.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    REQUIRE_MESSAGE(!ec, ec.message());
  }
  void send(const Bytes& b) {
    asio::error_code ec;
    asio::write(sock, asio::buffer(b), ec);
    REQUIRE(!ec);
  }
  // Next message, or nullopt at EOF.
  std::optional<Msg> msg() {
    auto fill = [&](std::size_t n) {
      while (buf.size() < n) {
        std::uint8_t tmp[65536];
        asio::error_code ec;
        std::size_t got = sock.read_some(asio::buffer(tmp), ec);
        if (ec) return false;
        buf.insert(buf.end(), tmp, tmp + got);
      }
      return true;
    };
    if (!fill(5)) return std::nullopt;
    std::uint32_t len = test::rd32(buf.data() + 1);
    if (!fill(1 + len)) return std::nullopt;
    Msg m{static_cast<char>(buf[0]), Bytes(buf.begin() + 5, buf.begin() + 1 + len)};
    buf.erase(buf.begin(), buf.begin() + 1 + len);
    return m;
  }
  std::vector<Msg> until(char type) {
    std::vector<Msg> out;
    for (int i = 0; i < 100000; ++i) {
      auto m = msg();
      REQUIRE(m.has_value());
      out.push_back(*m);
      if (m->type == type) return out;
    }
    FAIL("no message of type " << type);
    return out;
  }
  void login(const std::string& timeline = std::string(32, '2')) {
    send(test::startup({{"user", "u"},
                        {"replication", "true"},
                        {"options", "-c tenant_id=" + std::string(32, '1') +
                                        " -c timeline_id=" + timeline}}));
  }
};

// Waits (30 s at most) until pred() holds, re-checking whenever the fake
// source's state changes; conditions outside it (the server's connection
// count) are re-checked at least every 50 ms. pred() takes its own locks.
template <typename F>
void wait_until(State& state, const char* what, F pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("timed out waiting for " << what);
    std::unique_lock lock(state.mu);
    state.changed.wait_for(lock, std::chrono::milliseconds(50));
  }
}

std::uint64_t tcp_wmem_max() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
  std::uint64_t a = 0, b = 0, c = 4 * 1024 * 1024;
  in >> a >> b >> c;
  return c;
}

TEST_CASE("back-pressure: WAL is not read far ahead of a client that does not read") {
  ServerOptions o;
  o.outbound_high_water_bytes = 256 * 1024;
  o.outbound_bytes_max = 4 * 1024 * 1024;
  Fixture f(o);
  const std::uint64_t commit = 48ull << 20;
  f.state.set_commit(Lsn(commit));
  Client c(f.server->port(), 64 * 1024);
  c.login();
  REQUIRE(c.until('Z').back().type == 'Z');
  c.send(test::query("START_REPLICATION 0/0"));
  REQUIRE(c.msg()->type == 'W');
  // The client reads nothing now. The server fills the socket buffers and its
  // queue to the high water mark, then stops reading WAL.
  // Stopped = no WAL read for 200 ms (bounded: 30 s in all).
  std::uint64_t last = 0;
  {
    std::unique_lock lock(f.state.mu);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      last = f.state.bytes_read;
      bool moved = f.state.changed.wait_for(lock, std::chrono::milliseconds(200),
                                            [&] { return f.state.bytes_read != last; });
      if (!moved && last > 0) break;
      if (std::chrono::steady_clock::now() > deadline) FAIL("WAL reads never stopped");
    }
  }
  std::uint64_t bound = o.outbound_high_water_bytes + 2 * 128 * 1024 + tcp_wmem_max() + 1024 * 1024;
  MESSAGE("read " << last << " bytes ahead, bound " << bound);
  CHECK(last < commit);
  CHECK(last <= bound);
  // While stalled, the client ends the stream and starts another from 0/0
  // (a WAL read of the old stream is still deferred then).
  Bytes restart = test::typed('c', {});
  Bytes again = test::query("START_REPLICATION 0/0");
  restart.insert(restart.end(), again.begin(), again.end());
  c.send(restart);
  // Then it reads everything: the old stream's queued XLogData, the end of
  // that stream, and the whole new stream, contiguous, the fake's bytes, up to
  // the commit LSN.
  std::uint64_t pos = 0;
  std::string ends;
  for (int i = 0; i < 1'000'000 && (ends.size() < 4 || pos < commit); ++i) {
    auto m = c.msg();
    REQUIRE(m.has_value());
    if (m->type != 'd') {
      ends.push_back(m->type);
      if (m->type == 'W') pos = 0;
      continue;
    }
    if (m->body[0] != 'w') continue;
    REQUIRE(test::rd64(m->body.data() + 1) == pos);
    std::uint64_t n = m->body.size() - 25;
    for (std::uint64_t k = 0; k < n; k += 4093) REQUIRE(m->body[25 + k] == wal_byte(pos + k));
    pos += n;
  }
  CHECK(ends == "cCZW");
  CHECK(pos == commit);
}

TEST_CASE("commit LSN waits: new WAL is sent when the commit LSN moves; feedback reaches the host") {
  Fixture f(ServerOptions{});
  f.state.set_commit(Lsn(0x1000));
  Client c(f.server->port());
  c.login();
  c.until('Z');
  c.send(test::query("START_REPLICATION SLOT s 0/0"));
  REQUIRE(c.msg()->type == 'W');
  auto m = c.until('d');
  REQUIRE(m.back().body[0] == 'w');
  CHECK(m.back().body.size() == 25 + 0x1000);
  wait_until(f.state, "the session to wait for the commit LSN", [&] {
    std::lock_guard lock(f.state.mu);
    return !f.state.waiters.empty();
  });
  f.state.set_commit(Lsn(0x1800));
  auto m2 = c.until('d');
  REQUIRE(m2.back().body[0] == 'w');
  CHECK(test::rd64(m2.back().body.data() + 1) == 0x1000);
  CHECK(m2.back().body.size() == 25 + 0x800);
  c.send(test::status_update(0x1800, 0x1800, 0, false));
  wait_until(f.state, "feedback", [&] {
    std::lock_guard lock(f.state.mu);
    return !f.state.feedback.empty();
  });
  std::lock_guard lock(f.state.mu);
  CHECK(*f.state.feedback[0].slot == "s");
  CHECK(f.state.feedback[0].flush == Lsn(0x1800));
}

TEST_CASE("an unknown timeline is FATAL 3D000 and the server goes on") {
  Fixture f(ServerOptions{});
  {
    Client c(f.server->port());
    c.login(std::string(32, '9'));
    auto m = c.msg();
    REQUIRE(m.has_value());
    CHECK(m->type == 'E');
    CHECK(m->fields()['C'] == "3D000");
    CHECK(m->fields()['M'] == "timeline not found here");
    CHECK(!c.msg().has_value());  // closed
  }
  Client c2(f.server->port());
  c2.login();
  CHECK(c2.until('Z').back().type == 'Z');
}

TEST_CASE("the connection bound refuses with 53300; stop() ends every connection as PostgreSQL does") {
  ServerOptions o;
  o.connections_max = 2;
  Fixture f(o);
  Client a(f.server->port());
  a.login();
  a.until('Z');
  Client b(f.server->port());
  b.login();
  b.until('Z');
  Client c(f.server->port());
  auto m = c.msg();
  REQUIRE(m.has_value());
  CHECK(m->fields()['C'] == "53300");
  CHECK(f.state.streams() == 2);
  f.state.set_commit(Lsn(0x100));
  b.send(test::query("START_REPLICATION 0/0"));
  REQUIRE(b.msg()->type == 'W');
  REQUIRE(b.until('d').back().body[0] == 'w');
  f.server->stop();
  auto fa = a.msg();  // in command mode: FATAL 57P01, then the end
  REQUIRE(fa.has_value());
  CHECK(fa->fields()['C'] == "57P01");
  CHECK(!a.msg().has_value());
  auto fb = b.until('C');  // streaming: CommandComplete "COPY 0", no ReadyForQuery, the end
  CHECK(fb.back().text() == "COPY 0");
  CHECK(!b.msg().has_value());
  wait_until(f.state, "streams destroyed", [&] { return f.state.streams() == 0; });
  wait_until(f.state, "connections forgotten", [&] { return f.server->connection_count() == 0; });
}

}  // namespace
}  // namespace wq::pgwire
