// Which endpoint of the safekeeper's HTTP port a request names, decided from its
// method and (decoded) path alone; the server then answers it. Pure, so the
// routing of untrusted requests is fuzzed (tests/fuzz/daemon). Endpoints:
//   GET  /v1/status                                  every timeline, JSON
//   GET  /v1/tenant/<32 hex>/timeline/<32 hex>       one timeline, JSON
//   POST /v1/tenant/<32 hex>/timeline/<32 hex>       create it (query system_id,
//                                                    wal_seg_size, pg_version)
//   GET  /metrics                                    Prometheus text
// HEAD is routed as GET. An unknown path is 404 (also ids with non-hex
// characters), a known path with another method 405, hex ids not 32 digits long 400.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/types.h"

namespace wq::safekeeper {

struct HttpRoute {
  enum class Kind { kStatus, kTimeline, kCreateTimeline, kMetrics, kError };
  Kind kind = Kind::kError;
  core::TimelineKey timeline;  // kTimeline, kCreateTimeline
  int status = 404;            // kError: the HTTP status to answer
  std::string error;           // kError: one line, no quotes or backslashes (a JSON string as is)
};

HttpRoute route_http(std::string_view method, std::string_view path);

// A query parameter that must be an unsigned decimal number no larger than `max`:
// nullopt for anything else (empty, signs, spaces, other characters, overflow).
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max);

}  // namespace wq::safekeeper
