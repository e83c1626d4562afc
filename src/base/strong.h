// Strong integer types: Term, NodeId and friends are distinct types so that
// mixing them does not compile (STYLE.md, "Names"). Pure.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace wq::base {

template <typename Tag, typename Rep = std::uint64_t>
class Strong {
 public:
  using rep_type = Rep;
  constexpr Strong() = default;
  constexpr explicit Strong(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const Strong&) const = default;

 private:
  Rep v_{0};
};

}  // namespace wq::base
