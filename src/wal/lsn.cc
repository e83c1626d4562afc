// Lsn text form. See lsn.h.
#include "wal/lsn.h"

namespace wq::wal {

std::string Lsn::to_string() const { return fmt::format("{}", *this); }

namespace {

bool parse_hex32(std::string_view s, std::uint32_t* out) {
  if (s.empty() || s.size() > 8) return false;
  std::uint32_t v = 0;
  for (char c : s) {
    std::uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<std::uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<std::uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

}  // namespace

base::Result<Lsn> Lsn::parse(std::string_view text) {
  auto slash = text.find('/');
  std::uint32_t hi = 0;
  std::uint32_t lo = 0;
  if (slash == std::string_view::npos || !parse_hex32(text.substr(0, slash), &hi) ||
      !parse_hex32(text.substr(slash + 1), &lo)) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("invalid LSN \"{}\": expected PostgreSQL's X/Y form, "
                                        "two groups of 1 to 8 hex digits, e.g. 0/16B3748",
                                        text)};
  }
  return Lsn((static_cast<std::uint64_t>(hi) << 32) | lo);
}

}  // namespace wq::wal
