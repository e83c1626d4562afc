// Id128 hex form. See types.h.
#include "core/types.h"

namespace wq::core {

std::string Id128::to_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

base::Result<Id128> Id128::parse_hex(std::string_view text) {
  auto bad = [&] {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("invalid id \"{}\": expected 32 hex digits", text)};
  };
  if (text.size() != 32) return bad();
  Id128 id;
  for (std::size_t i = 0; i < 32; ++i) {
    char c = text[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return bad();
    }
    id.bytes[i / 2] = static_cast<std::uint8_t>((id.bytes[i / 2] << 4) | d);
  }
  return id;
}

}  // namespace wq::core
