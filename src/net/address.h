// HOST:PORT parsing for every listening and connecting flag (--listen-wal,
// --safekeepers, ...). Part of src/net, the Asio plumbing layer; this header is
// pure (no Asio) so command-line code can use it without the network stack.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace wq::net {

struct HostPort {
  std::string host;  // a name or an IPv4/IPv6 literal (IPv6 written as [::1]:5454)
  std::uint16_t port = 0;  // 0 = let the kernel choose (listeners only)
  std::string to_string() const;
};

// Parses "host:port" or "[v6]:port". kInvalidArgument with a one-line message
// quoting the text on anything else (no port, port > 65535, empty host).
base::Result<HostPort> parse_host_port(std::string_view text);

}  // namespace wq::net
