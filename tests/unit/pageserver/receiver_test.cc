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
