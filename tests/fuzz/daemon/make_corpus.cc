// Writes the seed corpora of the daemon fuzz targets: HTTP requests to every
// endpoint of both daemons (corpus_http/) and TOML config files of both
// (corpus_config/), each file led by the byte that picks the daemon (0
// safekeeper, 1 pageserver). Deterministic.
// Usage: daemon_fuzz_make_corpus <corpus_http dir> <corpus_config dir>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

bool write(const std::string& path, char daemon, const std::string& body) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.put(daemon);
  out << body;
  return static_cast<bool>(out);
}

const std::string kTl = "/v1/tenant/0123456789abcdef0123456789abcdef/timeline/fedcba9876543210FEDCBA9876543210";

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: daemon_fuzz_make_corpus CORPUS_HTTP CORPUS_CONFIG\n");
    return 2;
  }
  const std::string http = argv[1], config = argv[2];
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"status", "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"metrics", "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
      {"timeline", "GET " + kTl + " HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"create", "POST " + kTl + "?system_id=42&wal_seg_size=16777216&pg_version=150000 HTTP/1.1\r\n"
                 "Host: x\r\nContent-Length: 0\r\n\r\n"},
      {"create-body", "POST " + kTl + "?pg_version=x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"},
      {"head", "HEAD /v1/status HTTP/1.0\r\n\r\n"},
      {"delete", "DELETE " + kTl + " HTTP/1.1\r\n\r\n"},
      {"percent", "GET /v1/tenant/%30%31/timeline/zz?a=%zz HTTP/1.1\r\n\r\n"},
      {"chunked", "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
  };
  bool ok = true;
  for (const auto& [name, req] : requests) {
    ok &= write(http + "/sk-" + name, 0, req);
    ok &= write(http + "/ps-" + name, 1, req);
  }
  ok &= write(config + "/sk-full", 0,
              "id = 2\ndata_dir = \"/tmp/sk\"\nlisten_wal = \"127.0.0.1:0\"\n"
              "listen_http = \"127.0.0.1:7676\"\nlisten_pg = \"[::1]:0\"\nretention_bytes = 1048576\n"
              "log_level = \"debug\"\nsync_interval_ms = 5\nidle_timeout_ms = 30000\n"
              "peers = [\"127.0.0.1:5001\", \"localhost:5002\"]\n");
  ok &= write(config + "/sk-peers-string", 0,
              "id = 1\ndata_dir = 'd'\nlisten_wal = '0.0.0.0:5454'\nlisten_http = 'h:1'\n"
              "peers = \"a:1,b:2\"\n");
  ok &= write(config + "/sk-bad", 0, "id = -1\n[section]\nkey = { inline = [1, 2.5, 1979-05-27T07:32:00Z] }\n");
  ok &= write(config + "/ps-full", 1,
              "data_dir = \"/tmp/ps\"\nsafekeepers = \"127.0.0.1:5432,127.0.0.1:5433\"\n"
              "listen_page = \"127.0.0.1:0\"\nlisten_http = \"127.0.0.1:0\"\nimage_threshold = 16\n"
              "tenant_id = \"0123456789abcdef0123456789abcdef\"\n"
              "timeline_id = \"fedcba9876543210fedcba9876543210\"\nstart_lsn = \"0/1000000\"\n"
              "getpage_timeout_ms = 10000\nstall_timeout_ms = 10000\nstatus_interval_ms = 1000\n"
              "sync_interval_ms = 100\nretention_bytes = 0\ncompaction_interval_ms = 10000\n"
              "image_queue_max = 1024\ngetpage_threads = 4\nwal_segment_mb = 16\nlog_level = \"info\"\n");
  ok &= write(config + "/ps-plain", 1,
              "data_dir = 'p'\nsafekeepers = 'h:5432'\nlisten_page = 'h:0'\nlisten_http = 'h:0'\n"
              "plain_postgres = true\npg_user = \"replicator\"\n");
  if (!ok) {
    std::fprintf(stderr, "writing the corpora failed\n");
    return 1;
  }
  return 0;
}
