// Result<T>: value or error, never both.
#include <doctest/doctest.h>

#include <string>

#include "base/result.h"

using wq::base::ErrorCode;
using wq::base::Result;
using wq::base::Unexpected;

namespace {
Result<int> half(int x) {
  if (x % 2 != 0) return Unexpected{ErrorCode::kInvalidArgument, "odd"};
  return x / 2;
}
}  // namespace

TEST_CASE("Result holds a value or an error") {
  auto ok = half(4);
  REQUIRE(ok.has_value());
  CHECK(*ok == 2);
  auto bad = half(3);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  CHECK(bad.error().message == "odd");
}
