// libFuzzer target: the HTTP ports of both daemons. The input is a raw request
// (byte 0 picks the daemon: bit 0 clear safekeeper, set pageserver), fed through
// cpp-httplib's request parser (Debian's shared library: exercised, but not
// instrumented for coverage) into a server wired as the daemon wires its own:
// a pre-routing handler that asks route_http (instrumented) and answers, and for
// the safekeeper the POST handler of timeline creation with parse_decimal on
// its query. The method and path of the first line also go to route_http of
// both daemons directly. Nothing may crash; routes must agree with the path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <httplib.h>

#include "base/assert.h"
#include "pageserver/http_route.h"
#include "safekeeper/http_route.h"

namespace {

class MemoryStream : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view in) : in_(in) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, in_.size() - pos_);
    std::copy_n(in_.data() + pos_, n, ptr);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (out_.size() < (1u << 20)) out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  const std::string& out() const { return out_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  std::string out_;
};

class FuzzServer : public httplib::Server {
 public:
  void handle(MemoryStream& s) {
    bool closed = false;
    (void)process_request(s, true, closed, nullptr);
  }
};

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

void check_error(int status, const std::string& error) {
  WQ_ASSERT(status == 400 || status == 404 || status == 405, "error status {}", status);
  WQ_ASSERT(!error.empty() && error.find_first_of("\"\\\n\r") == std::string::npos,
            "error text not a plain JSON string: {}", error);
}

void check_sk(std::string_view method, std::string_view path) {
  using wq::safekeeper::HttpRoute;
  const HttpRoute r = wq::safekeeper::route_http(method, path);
  if (r.kind == HttpRoute::Kind::kError) return check_error(r.status, r.error);
  WQ_ASSERT(r.status == 200, "route status {}", r.status);
  if (r.kind == HttpRoute::Kind::kTimeline || r.kind == HttpRoute::Kind::kCreateTimeline) {
    WQ_ASSERT(lower(path) == "/v1/tenant/" + r.timeline.tenant.to_hex() + "/timeline/" +
                                 r.timeline.timeline.to_hex(),
              "timeline route for another path: {}", path);
    WQ_ASSERT((r.kind == HttpRoute::Kind::kCreateTimeline) == (method == "POST"), "method {}", method);
  } else {
    WQ_ASSERT(path == "/v1/status" || path == "/metrics", "route for {}", path);
    WQ_ASSERT(method == "GET" || method == "HEAD", "method {}", method);
  }
}

void check_ps(std::string_view method, std::string_view path) {
  using wq::pageserver::HttpRoute;
  const HttpRoute r = wq::pageserver::route_http(method, path);
  if (r.kind == HttpRoute::Kind::kError) return check_error(r.status, r.error);
  WQ_ASSERT(r.status == 200 && (path == "/v1/status" || path == "/metrics") &&
                (method == "GET" || method == "HEAD"),
            "route for {} {}", method, path);
}

FuzzServer& safekeeper_server() {
  static FuzzServer* s = [] {
    auto* srv = new FuzzServer();
    srv->set_payload_max_length(64 * 1024);
    srv->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      check_sk(req.method, req.path);
      const auto route = wq::safekeeper::route_http(req.method, req.path);
      using Kind = wq::safekeeper::HttpRoute::Kind;
      if (route.kind == Kind::kCreateTimeline) return httplib::Server::HandlerResponse::Unhandled;
      res.status = route.kind == Kind::kError ? route.status : 200;
      res.set_content(route.error, "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
    srv->Post(R"(/v1/tenant/[0-9a-fA-F]{32}/timeline/[0-9a-fA-F]{32})",
              [](const httplib::Request& req, httplib::Response& res) {
                const auto route = wq::safekeeper::route_http(req.method, req.path);
                WQ_ASSERT(route.kind == wq::safekeeper::HttpRoute::Kind::kCreateTimeline,
                          "POST handler for {}", req.path);
                for (const char* key : {"system_id", "wal_seg_size", "pg_version"}) {
                  if (!req.has_param(key)) continue;
                  const std::string v = req.get_param_value(key);
                  auto n = wq::safekeeper::parse_decimal(v, 0xFFFFFFFFu);
                  WQ_ASSERT(!n || (*n <= 0xFFFFFFFFu && std::to_string(*n).size() <= v.size()),
                            "parse_decimal('{}')", v);
                }
                res.status = 201;
              });
    return srv;
  }();
  return *s;
}

FuzzServer& pageserver_server() {
  static FuzzServer* s = [] {
    auto* srv = new FuzzServer();
    srv->set_payload_max_length(64 * 1024);
    srv->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      check_ps(req.method, req.path);
      const auto route = wq::pageserver::route_http(req.method, req.path);
      res.status = route.kind == wq::pageserver::HttpRoute::Kind::kError ? route.status : 200;
      res.set_content(route.error, "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
    return srv;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view req(reinterpret_cast<const char*>(data + 1), size - 1);
  // The request line's method and path, split on spaces, straight to the routers.
  const std::size_t sp = req.find(' ');
  const std::string_view method = req.substr(0, sp);
  std::string_view path = sp == std::string_view::npos ? std::string_view() : req.substr(sp + 1);
  path = path.substr(0, path.find_first_of(" ?\r\n"));
  check_sk(method, path);
  check_ps(method, path);
  (void)wq::safekeeper::parse_decimal(path, data[0] & 2 ? 0xFFFFFFFFu : ~std::uint64_t{0});

  MemoryStream stream(req);
  if (data[0] & 1) {
    pageserver_server().handle(stream);
  } else {
    safekeeper_server().handle(stream);
  }
  // Whatever is answered starts with a status line (httplib's own 400s included).
  WQ_ASSERT(stream.out().empty() || stream.out().starts_with("HTTP/1.1 "), "no status line");
  return 0;
}
