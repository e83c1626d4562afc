// The replication client's CopyData parsing and its standby status update.
#include <doctest/doctest.h>

#include "pageserver/receiver.h"

using namespace wq::pageserver;
using wq::wal::Lsn;

TEST_CASE("XLogData, keepalive and bad CopyData") {
  std::vector<std::uint8_t> w = {'w', 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x28,  // start 0/1000028
                                 0, 0, 0, 0, 0x02, 0, 0, 0,               // wal end 0/2000000
                                 0, 0, 0, 0, 0, 0, 0, 1,                  // send time
                                 0xAA, 0xBB};
  auto x = parse_copy_data(w);
  REQUIRE(std::holds_alternative<XLogData>(x));
  CHECK(std::get<XLogData>(x).start == Lsn(0x1000028));
  CHECK(std::get<XLogData>(x).wal_end == Lsn(0x2000000));
  CHECK(std::get<XLogData>(x).bytes.size() == 2);
  std::vector<std::uint8_t> k = {'k', 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  auto ka = parse_copy_data(k);
  REQUIRE(std::holds_alternative<Keepalive>(ka));
  CHECK(std::get<Keepalive>(ka).wal_end == Lsn(0x1000));
  CHECK(std::get<Keepalive>(ka).reply_requested);
  CHECK(std::holds_alternative<wq::base::Error>(parse_copy_data(std::span(w).first(24))));
  CHECK(std::holds_alternative<wq::base::Error>(parse_copy_data(std::span(k).first(17))));
  std::vector<std::uint8_t> q = {'q'};
  CHECK(std::holds_alternative<wq::base::Error>(parse_copy_data(q)));
  CHECK(std::holds_alternative<wq::base::Error>(parse_copy_data({})));
}

TEST_CASE("standby status update: 34 bytes, big-endian") {
  auto m = standby_status(Lsn(0x0102030405060708), Lsn(0x10), Lsn(0x20), 0x7F, true);
  CHECK(m[0] == 'r');
  CHECK(m[1] == 0x01);
  CHECK(m[8] == 0x08);
  CHECK(m[16] == 0x10);
  CHECK(m[24] == 0x20);
  CHECK(m[32] == 0x7F);
  CHECK(m[33] == 1);
}

TEST_CASE("behind: leave a source that does not reach another's position within the grace") {
  using namespace std::chrono_literals;
  BehindTracker t(0, 1000ms);
  auto t0 = BehindTracker::Clock::time_point{} + 1h;
  // Nobody ahead: nothing to do.
  t.on_round(Lsn(100), Lsn(100), Lsn(100), t0);
  CHECK_FALSE(t.target());
  CHECK_FALSE(t.should_switch(t0 + 10s));
  // Another source ahead; the current one gets there within the grace: stay.
  t.on_round(Lsn(100), Lsn(200), Lsn(100), t0);
  CHECK(t.target() == Lsn(200));
  CHECK_FALSE(t.should_switch(t0 + 999ms));
  t.on_current(Lsn(200));
  CHECK_FALSE(t.target());
  CHECK_FALSE(t.should_switch(t0 + 2s));
  // Sources taking turns a few bytes ahead never trigger it.
  for (int i = 0; i < 10; ++i) {
    auto at = t0 + std::chrono::milliseconds(500 * i);
    t.on_round(Lsn(1000 + 10 * i), Lsn(1005 + 10 * i), Lsn(1000 + 10 * i), at);
    CHECK_FALSE(t.should_switch(at));
  }
  t.on_current(Lsn(2000));
  // A source that stays behind (a killed compute's last commit it never
  // learned): switch once the grace passed since the first sighting, even as
  // the target moves on.
  auto t1 = t0 + 1min;
  t.on_round(Lsn(2000), Lsn(3000), Lsn(2000), t1);
  t.on_round(Lsn(2000), Lsn(4000), Lsn(2000), t1 + 600ms);
  CHECK(t.target() == Lsn(3000));
  CHECK_FALSE(t.should_switch(t1 + 999ms));
  CHECK(t.should_switch(t1 + 1000ms));
}

TEST_CASE("behind: never while we have not received what the current source offers") {
  using namespace std::chrono_literals;
  BehindTracker t(0, 1000ms);
  auto t0 = BehindTracker::Clock::time_point{} + 1h;
  // A pageserver catching up a backlog: the source is not what holds it back.
  t.on_round(Lsn(5000), Lsn(9000), Lsn(1000), t0);
  CHECK_FALSE(t.target());
  CHECK_FALSE(t.should_switch(t0 + 10s));
  t.on_round(Lsn(9000), Lsn(10000), Lsn(9000), t0 + 10s);  // caught up: now it counts
  CHECK(t.target() == Lsn(10000));
  t.on_round(Lsn(9000), Lsn(10000), Lsn(2000), t0 + 10500ms);  // e.g. after a restart of the stream
  CHECK_FALSE(t.target());
}

TEST_CASE("behind: the margin") {
  using namespace std::chrono_literals;
  BehindTracker t(4096, 0ms);
  auto t0 = BehindTracker::Clock::time_point{} + 1h;
  t.on_round(Lsn(10'000), Lsn(14'096), Lsn(10'000), t0);  // exactly the margin: not more
  CHECK_FALSE(t.should_switch(t0));
  t.on_round(Lsn(10'000), Lsn(14'097), Lsn(10'000), t0);
  CHECK(t.should_switch(t0));
  t.on_round(Lsn(10'000), std::nullopt, Lsn(10'000), t0);  // no other source answered: the old target stays
  CHECK(t.should_switch(t0));
}

TEST_CASE("end reason names, as in the failover counters' label") {
  CHECK(std::string(end_reason_name(EndReason::kBroken)) == "broken");
  CHECK(std::string(end_reason_name(EndReason::kStalled)) == "stalled");
  CHECK(std::string(end_reason_name(EndReason::kBehind)) == "behind");
}
