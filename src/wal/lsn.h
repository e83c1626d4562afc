// Lsn: a byte position in the PostgreSQL WAL stream (XLogRecPtr), as a strong
// type with PostgreSQL's "X/Y" text form. Pure: no I/O.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/result.h"

namespace wq::wal {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(std::uint64_t v) : v_(v) {}
  constexpr std::uint64_t value() const { return v_; }
  constexpr auto operator<=>(const Lsn&) const = default;

  constexpr bool is_valid() const { return v_ != 0; }  // 0 is InvalidXLogRecPtr

  // Byte distance arithmetic. Lsn + bytes is an Lsn; Lsn - Lsn is a byte count.
  constexpr Lsn operator+(std::uint64_t bytes) const { return Lsn(v_ + bytes); }
  constexpr Lsn operator-(std::uint64_t bytes) const { return Lsn(v_ - bytes); }
  constexpr std::uint64_t operator-(Lsn other) const { return v_ - other.v_; }
  constexpr Lsn& operator+=(std::uint64_t bytes) {
    v_ += bytes;
    return *this;
  }

  // PostgreSQL's %X/%X form: high 32 bits, '/', low 32 bits, upper-case hex.
  std::string to_string() const;
  // Parses "X/Y" (1..8 hex digits each side, either case). Anything else is a
  // kInvalidArgument error whose message quotes the text and says what was expected.
  static base::Result<Lsn> parse(std::string_view text);

 private:
  std::uint64_t v_{0};
};

inline constexpr Lsn kInvalidLsn{};

}  // namespace wq::wal

template <>
struct fmt::formatter<wq::wal::Lsn> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const wq::wal::Lsn& lsn, Ctx& ctx) const {
    return fmt::format_to(ctx.out(), "{:X}/{:X}", lsn.value() >> 32,
                          lsn.value() & 0xFFFFFFFFu);
  }
};
