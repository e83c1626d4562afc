// Which endpoint of the pageserver's HTTP port a request names, decided from its
// method and (decoded) path alone; the server then answers it. Pure, so the
// routing of untrusted requests is fuzzed (tests/fuzz/daemon). Endpoints:
//   GET /v1/status   ingest and store status, JSON
//   GET /metrics     Prometheus text
// HEAD is routed as GET. An unknown path is 404, a known path with another method 405.
#pragma once

#include <string>
#include <string_view>

namespace wq::pageserver {

struct HttpRoute {
  enum class Kind { kStatus, kMetrics, kError };
  Kind kind = Kind::kError;
  int status = 404;   // kError: the HTTP status to answer
  std::string error;  // kError: one line, no quotes or backslashes (a JSON string as is)
};

HttpRoute route_http(std::string_view method, std::string_view path);

}  // namespace wq::pageserver
