// proposer::Client without a safekeeper: option checks name what is wrong, and
// with nothing listening the client campaigns forever, so waits time out,
// append is refused before election, and stop() fails what is pending.
#include "proposer/client.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace wq::proposer {

namespace {

using namespace std::chrono_literals;

Options base_options() {
  Options o;
  // Port 1 on loopback: nothing listens there, so connects are refused.
  o.safekeepers = {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"};
  o.reconnect_initial = 5ms;
  o.reconnect_max = 20ms;
  return o;
}

std::string start_error(const Options& o) {
  auto r = Client::start(o);
  REQUIRE(!r.has_value());
  CHECK(r.error().code == base::ErrorCode::kInvalidArgument);
  return r.error().message;
}

}  // namespace

TEST_CASE("options: bad lists and values are kInvalidArgument naming the problem") {
  Options o = base_options();
  o.safekeepers.clear();
  CHECK(start_error(o).find("no safekeepers") != std::string::npos);

  o = base_options();
  o.safekeepers[1] = "localhost";
  CHECK(start_error(o).find("localhost") != std::string::npos);

  o = base_options();
  o.safekeepers[2] = "127.0.0.1:99999";
  CHECK(start_error(o).find("99999") != std::string::npos);

  o = base_options();
  o.safekeepers[2] = "127.0.0.1:0";
  CHECK(start_error(o).find("port 0") != std::string::npos);

  o = base_options();
  o.safekeepers[2] = "127.0.0.1:1";
  CHECK(start_error(o).find("\"127.0.0.1:1\" given twice") != std::string::npos);

  o = base_options();
  o.wal_seg_size = 12345;
  CHECK(start_error(o).find("wal_seg_size 12345") != std::string::npos);

  o = base_options();
  o.timeline_start_lsn = Lsn(3);
  CHECK(start_error(o).find("timeline_start_lsn") != std::string::npos);

  o = base_options();
  o.reconnect_initial = 3000ms;
  CHECK(start_error(o).find("reconnect") != std::string::npos);

  o = base_options();
  o.window_bytes_max = o.buffer_bytes_max + 1;
  CHECK(start_error(o).find("window_bytes_max") != std::string::npos);
}

TEST_CASE("no safekeeper reachable: campaigning, waits time out, stop fails what is pending") {
  auto r = Client::start(base_options());
  REQUIRE(r.has_value());
  Client& c = **r;
  CHECK(c.state() == State::kCampaigning);
  auto e = c.wait_elected(50ms);
  REQUIRE(!e.has_value());
  CHECK(e.error().code == base::ErrorCode::kTimeout);

  std::uint8_t byte = 0;
  auto a = c.append(std::span<const std::uint8_t>(&byte, 1), 10ms);
  REQUIRE(!a.has_value());
  CHECK(a.error().code == base::ErrorCode::kInvalidArgument);

  auto w = c.wait_committed(Lsn(1 << 25), 20ms);
  REQUIRE(!w.has_value());
  CHECK(w.error().code == base::ErrorCode::kTimeout);

  std::atomic<int> calls{0};
  std::string message;
  c.on_committed(Lsn(1 << 25), [&](base::Status st) {
    CHECK(!st.has_value());
    if (!st) message = st.error().message;
    ++calls;
  });
  // The connects keep failing and are retried with backoff.
  auto s = c.stats();
  CHECK(s.safekeepers.size() == 3);
  CHECK(s.safekeepers[0].address == "127.0.0.1:1");
  CHECK(!s.safekeepers[0].connected);
  CHECK(s.reconnects == 0);

  c.stop();
  CHECK(calls == 1);  // answered by stop() at the latest
  CHECK(message == "client stopped");
  CHECK(c.state() == State::kStopped);
  auto e2 = c.wait_elected(1s);
  REQUIRE(!e2.has_value());
  CHECK(e2.error().code == base::ErrorCode::kRefused);
  CHECK(e2.error().message == "client stopped");
  auto a2 = c.append(std::span<const std::uint8_t>(&byte, 1), 10ms);
  REQUIRE(!a2.has_value());
  CHECK(a2.error().message == "client stopped");

  // After stop, a callback is answered at once on the calling thread.
  int late = 0;
  c.on_committed(Lsn(1 << 26), [&](base::Status st) {
    CHECK(!st.has_value());
    ++late;
  });
  CHECK(late == 1);
  c.stop();  // idempotent
}

TEST_CASE("many wait_committed callers at different LSNs: each times out alone, stop() ends the rest") {
  auto r = Client::start(base_options());
  REQUIRE(r.has_value());
  Client& c = **r;
  // Nothing commits without a safekeeper. Even waiters have a short timeout
  // and must each return kTimeout on their own; odd ones wait until stop().
  constexpr int kWaiters = 16;
  std::mutex mu;
  std::condition_variable cv;
  int returned_short = 0;
  std::atomic<int> returned_long{0};
  std::vector<base::Status> results(kWaiters, base::Status(base::Ok{}));
  std::vector<std::thread> threads;
  for (int w = 0; w < kWaiters; ++w) {
    threads.emplace_back([&, w] {
      bool is_short = w % 2 == 0;
      // Different LSNs, some equal, so the waiters share and split slots.
      auto st = c.wait_committed(Lsn(static_cast<std::uint64_t>(1 << 24) + 8 * (w / 3 + 1)),
                                 is_short ? 20ms : 60s);
      results[static_cast<std::size_t>(w)] = st;
      if (is_short) {
        std::lock_guard lk(mu);
        ++returned_short;
        cv.notify_all();
      } else {
        ++returned_long;
      }
    });
  }
  {
    std::unique_lock lk(mu);
    CHECK(cv.wait_for(lk, 30s, [&] { return returned_short == kWaiters / 2; }));
  }
  CHECK(returned_long == 0);  // a timeout wakes no one else
  c.stop();
  for (auto& t : threads) t.join();
  for (int w = 0; w < kWaiters; ++w) {
    CAPTURE(w);
    const auto& st = results[static_cast<std::size_t>(w)];
    REQUIRE(!st.has_value());
    if (w % 2 == 0) {
      CHECK(st.error().code == base::ErrorCode::kTimeout);
    } else {
      CHECK(st.error().code == base::ErrorCode::kRefused);
      CHECK(st.error().message == "client stopped");
    }
  }
}

TEST_CASE("proposer_id 0 picks one; the destructor stops a running client") {
  Options o = base_options();
  o.proposer_id = 0;
  auto r = Client::start(o);
  REQUIRE(r.has_value());
  r->reset();  // ~Client stops and joins
  CHECK(std::string(state_name(State::kSuperseded)) == "superseded");
}

}  // namespace wq::proposer

namespace wq::proposer {

// The contract of client.h: a compute links the library without seeing Asio or
// Cap'n Proto (proposer_dep still carries their flags, so only reading the
// header's includes catches a slip).
TEST_CASE("client.h includes no Asio, Cap'n Proto or net/codec header") {
  std::FILE* f = std::fopen(PROPOSER_CLIENT_H, "r");
  REQUIRE(f != nullptr);
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  REQUIRE(text.find("class Client") != std::string::npos);
  for (const char* bad : {"#include <asio", "#include \"asio", "capnp", "#include <kj", "net/",
                          "codec/", "core/proposer.h"}) {
    CAPTURE(bad);
    CHECK(text.find(bad) == std::string::npos);
  }
}

}  // namespace wq::proposer
