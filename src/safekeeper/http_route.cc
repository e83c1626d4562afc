// The safekeeper's HTTP routing (see http_route.h).
#include "safekeeper/http_route.h"

#include <charconv>

namespace wq::safekeeper {

namespace {

HttpRoute error(int status, std::string why) {
  HttpRoute r;
  r.status = status;
  r.error = std::move(why);
  return r;
}

HttpRoute simple(HttpRoute::Kind kind, bool get, std::string_view path) {
  if (!get) return error(405, std::string("method not allowed: ") + std::string(path) + " answers GET");
  HttpRoute r;
  r.kind = kind;
  r.status = 200;
  return r;
}

}  // namespace

HttpRoute route_http(std::string_view method, std::string_view path) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  if (path == "/v1/status") return simple(HttpRoute::Kind::kStatus, get, "/v1/status");
  if (path == "/metrics") return simple(HttpRoute::Kind::kMetrics, get, "/metrics");
  constexpr std::string_view kTenant = "/v1/tenant/";
  constexpr std::string_view kTimeline = "/timeline/";
  if (!path.starts_with(kTenant)) return error(404, "not found");
  std::string_view rest = path.substr(kTenant.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return error(404, "not found");
  const std::string_view tenant_hex = rest.substr(0, slash);
  rest = rest.substr(slash);
  if (!rest.starts_with(kTimeline)) return error(404, "not found");
  const std::string_view timeline_hex = rest.substr(kTimeline.size());
  auto hex = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
  };
  if (!hex(tenant_hex) || !hex(timeline_hex)) return error(404, "not found");
  if (!get && !post) {
    return error(405, "method not allowed: a timeline answers GET (status) and POST (create)");
  }
  auto tenant = core::Id128::parse_hex(tenant_hex);
  auto timeline = core::Id128::parse_hex(timeline_hex);
  if (!tenant || !timeline) return error(400, "tenant and timeline ids must be 32 hex digits");
  HttpRoute r;
  r.kind = get ? HttpRoute::Kind::kTimeline : HttpRoute::Kind::kCreateTimeline;
  r.timeline = core::TimelineKey{*tenant, *timeline};
  r.status = 200;
  return r;
}

std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n > max) {
    return std::nullopt;
  }
  return n;
}

}  // namespace wq::safekeeper
