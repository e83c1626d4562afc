// CRC-32C: the PostgreSQL test vector, and the hardware path agreeing with the
// portable one for every length, alignment and split.
#include <doctest/doctest.h>

#include <cstring>

#include "wal/crc32c.h"
#include "wal_test_util.h"

using namespace wq::wal;

TEST_CASE("crc32c test vector 123456789") {
  const char* s = "123456789";
  CHECK(crc32c(s, 9) == 0xE3069283u);
  CHECK(~crc32c_portable_update(kCrc32cInit, s, 9) == 0xE3069283u);
  CHECK(crc32c(s, 0) == 0u);
}

TEST_CASE("crc32c hardware and portable paths agree on lengths, offsets and splits") {
  test::Prng rng(42);
  auto buf = rng.bytes(40000);
  MESSAGE("hardware crc32c available: " << crc32c_hw_available());
  for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 1000u, 3071u, 3072u, 3073u, 6200u, 9999u, 39000u}) {
    for (std::size_t off = 0; off < 9; ++off) {
      std::uint32_t a = crc32c_update(kCrc32cInit, buf.data() + off, len);
      std::uint32_t b = crc32c_portable_update(kCrc32cInit, buf.data() + off, len);
      REQUIRE(a == b);
      std::size_t cut = len / 3;
      std::uint32_t c = crc32c_update(crc32c_update(kCrc32cInit, buf.data() + off, cut),
                                      buf.data() + off + cut, len - cut);
      REQUIRE(c == a);
    }
  }
  for (int i = 0; i < 200; ++i) {
    std::size_t off = rng.range(0, 100);
    std::size_t len = rng.range(0, 30000);
    std::uint32_t seed = static_cast<std::uint32_t>(rng.next());
    REQUIRE(crc32c_update(seed, buf.data() + off, len) ==
            crc32c_portable_update(seed, buf.data() + off, len));
  }
}
