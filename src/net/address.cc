// HOST:PORT parsing (see address.h).
#include "net/address.h"

#include <charconv>

#include <fmt/format.h>

namespace wq::net {

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

base::Result<HostPort> parse_host_port(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("bad address '{}': {} (expected HOST:PORT)", text, why)};
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 host must be written in brackets");
  }
  if (host.empty()) return bad("empty host");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    return bad("port is not a number in 0..65535");
  }
  return HostPort{std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace wq::net
