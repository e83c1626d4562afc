// net/address: HOST:PORT parsing and its one-line errors.
#include "net/address.h"

#include <doctest/doctest.h>

namespace wq::net {

TEST_CASE("parse_host_port accepts names, IPv4, bracketed IPv6 and port 0") {
  auto a = parse_host_port("127.0.0.1:5454");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 5454);
  auto b = parse_host_port("[::1]:0");
  REQUIRE(b);
  CHECK(b->host == "::1");
  CHECK(b->port == 0);
  CHECK(b->to_string() == "[::1]:0");
  CHECK(parse_host_port("localhost:65535"));
}

TEST_CASE("parse_host_port rejects what is not HOST:PORT") {
  for (const char* text : {"", "host", ":80", "host:", "host:65536", "host:8x", "::1:80"}) {
    auto r = parse_host_port(text);
    CHECK_FALSE(r);
    if (!r) CHECK(r.error().message.find("expected HOST:PORT") != std::string::npos);
  }
}

}  // namespace wq::net
