// walquorum-getpage: a small GetPage@LSN client for tests and people. Reads
// requests from stdin, one per line: "SPC DB REL FORK BLK X/Y"; writes one JSON
// line per response: {"ok":true,"lsn":"X/Y","deltas_replayed":N,"page":"<hex>"}
// or {"ok":false,"error":"..."}. Blocking POSIX sockets; exit 1 when the
// server cannot be reached or closes the connection, 2 on bad flags or input.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "net/address.h"
#include "pageserver/getpage_conn.h"

using namespace wq;

int main(int argc, char** argv) {
  CLI::App app{"walquorum-getpage: GetPage@LSN requests from stdin, JSON lines out", "walquorum-getpage"};
  std::string server, tenant_hex(32, '0'), timeline_hex(32, '0');
  app.add_option("--server", server, "HOST:PORT of the pageserver's --listen-page")->required();
  app.add_option("--tenant-id", tenant_hex, "32 hex digits (default zeros)");
  app.add_option("--timeline-id", timeline_hex, "32 hex digits (default zeros)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto hp = net::parse_host_port(server);
  auto tenant = pageserver::parse_id_hex(tenant_hex);
  auto timeline = pageserver::parse_id_hex(timeline_hex);
  if (!hp || !tenant || !timeline) {
    std::fprintf(stderr, "walquorum-getpage: error: bad --server, --tenant-id or --timeline-id\n");
    return 2;
  }
  pageserver::GetPageConnection conn;
  if (auto st = conn.connect(*hp); !st) {
    std::fprintf(stderr, "walquorum-getpage: error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    std::istringstream in(line);
    pageserver::GetPageRequest req;
    unsigned fork = 0;
    std::string lsn_text;
    if (!(in >> req.page.spc >> req.page.db >> req.page.rel >> fork >> req.page.blk >> lsn_text)) {
      std::fprintf(stderr, "walquorum-getpage: error: line '%s': expected SPC DB REL FORK BLK X/Y\n",
                   line.c_str());
      return 2;
    }
    auto lsn = wal::Lsn::parse(lsn_text);
    if (!lsn || fork > 255) {
      std::fprintf(stderr, "walquorum-getpage: error: line '%s': bad fork or LSN\n", line.c_str());
      return 2;
    }
    req.page.fork = static_cast<std::uint8_t>(fork);
    req.page.tenant = *tenant;
    req.page.timeline = *timeline;
    req.lsn = lsn->value();
    auto resp = conn.request(req);
    if (!resp) {
      std::fprintf(stderr, "walquorum-getpage: error: %s\n", resp.error().message.c_str());
      return 1;
    }
    if (resp->page) {
      std::string hex;
      hex.reserve(2 * wal::kBlockSize);
      for (std::uint8_t b : *resp->page) hex += fmt::format("{:02x}", b);
      std::cout << fmt::format("{{\"ok\":true,\"lsn\":\"{}\",\"deltas_replayed\":{},\"page\":\"{}\"}}\n",
                               wal::Lsn(resp->lsn), resp->deltas_replayed, hex);
    } else {
      std::string e;
      for (char c : resp->error) {
        if (c == '"' || c == '\\') e += '\\';
        e += c;
      }
      std::cout << fmt::format("{{\"ok\":false,\"error\":\"{}\"}}\n", e);
    }
    std::cout.flush();
  }
  return 0;
}
