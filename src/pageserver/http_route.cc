// The pageserver's HTTP routing (see http_route.h).
#include "pageserver/http_route.h"

namespace wq::pageserver {

HttpRoute route_http(std::string_view method, std::string_view path) {
  HttpRoute r;
  if (path == "/v1/status") {
    r.kind = HttpRoute::Kind::kStatus;
  } else if (path == "/metrics") {
    r.kind = HttpRoute::Kind::kMetrics;
  } else {
    r.error = "not found";
    return r;
  }
  if (method != "GET" && method != "HEAD") {
    r.kind = HttpRoute::Kind::kError;
    r.status = 405;
    r.error = "method not allowed: " + std::string(path) + " answers GET";
    return r;
  }
  r.status = 200;
  return r;
}

}  // namespace wq::pageserver
