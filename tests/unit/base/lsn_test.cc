// Lsn: PostgreSQL's X/Y text form both ways, and clear errors for bad text.
#include <doctest/doctest.h>

#include "wal/lsn.h"

using wq::wal::Lsn;

TEST_CASE("Lsn prints as PostgreSQL does") {
  CHECK(Lsn(0x15007C8).to_string() == "0/15007C8");
  CHECK(Lsn(0).to_string() == "0/0");
  CHECK(Lsn(0x100000000ULL).to_string() == "1/0");
  CHECK(Lsn(0xFFFFFFFFFFFFFFFFULL).to_string() == "FFFFFFFF/FFFFFFFF");
  CHECK(fmt::format("{}", Lsn(0x2000028)) == "0/2000028");
}

TEST_CASE("Lsn parses X/Y and rejects anything else") {
  CHECK(Lsn::parse("0/15007C8").value() == Lsn(0x15007C8));
  CHECK(Lsn::parse("1/0").value() == Lsn(0x100000000ULL));
  CHECK(Lsn::parse("a/b").value() == Lsn(0xA0000000BULL));
  for (const char* bad : {"", "/", "0/", "/0", "0x1/0", "1/2/3", "123456789/0", "g/0", " 0/1",
                          "0/1 ", "-1/0"}) {
    auto r = Lsn::parse(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == wq::base::ErrorCode::kInvalidArgument);
    CHECK(r.error().message.find("X/Y") != std::string::npos);
  }
}

TEST_CASE("Lsn arithmetic") {
  Lsn a(100);
  CHECK(a + 8 == Lsn(108));
  CHECK(Lsn(108) - a == 8u);
  CHECK(a < Lsn(101));
  CHECK_FALSE(Lsn().is_valid());
}
