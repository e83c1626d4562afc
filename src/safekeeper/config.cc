// Command line and TOML config of walquorum-safekeeper (see config.h). CLI11
// reports parse errors by throwing; they are caught here and become values.
#include "safekeeper/config.h"

#include <fstream>
#include <limits>
#include <iterator>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "net/config_toml.h"


namespace wq::safekeeper {

namespace {

constexpr const char* kProgram = "walquorum-safekeeper";

ParseExit error_exit(const std::string& what) {
  return ParseExit{2, fmt::format("{}: error: {} (see --help)", kProgram, what)};
}

// Applies the TOML file's keys that the command line did not set.
std::optional<ParseExit> apply_toml(std::string_view text, const std::string& path,
                                    const CLI::App& app, Config& c,
                                    std::string& wal, std::string& http, std::string& pg,
                                    std::string& peers) {
  // The subset of TOML in net/config_toml.h (toml++ 3.3 asserts on some bad input).
  auto parsed = net::parse_config_toml(text);
  if (!parsed) return error_exit(fmt::format("config {}: {}", path, parsed.error().message));
  for (const net::ConfigEntry& entry : *parsed) {
    const net::ConfigValue& node = entry.value;
    const std::string& k = entry.key;
    const std::string where = fmt::format("config {}:{}", path, entry.line);
    std::string flag = "--" + k;
    for (char& ch : flag) {
      if (ch == '_') ch = '-';
    }
    const CLI::Option* opt = app.get_option_no_throw(flag);
    bool on_cli = opt != nullptr && opt->count() > 0;
    auto want_int = [&](auto& out) -> std::optional<ParseExit> {
      using T = std::remove_reference_t<decltype(out)>;
      if (node.kind != net::ConfigValue::Kind::kInteger || node.integer < 0 ||
          static_cast<std::uint64_t>(node.integer) > std::numeric_limits<T>::max()) {
        return error_exit(fmt::format("{}: key '{}' must be an integer in 0..{}", where, k,
                                      std::numeric_limits<T>::max()));
      }
      if (!on_cli) out = static_cast<T>(node.integer);
      return std::nullopt;
    };
    auto want_str = [&](std::string& out) -> std::optional<ParseExit> {
      if (node.kind != net::ConfigValue::Kind::kString) {
        return error_exit(fmt::format("{}: key '{}' must be a string", where, k));
      }
      if (!on_cli) out = node.text;
      return std::nullopt;
    };
    std::optional<ParseExit> err;
    if (k == "id") err = want_int(c.id);
    else if (k == "data_dir") err = want_str(c.data_dir);
    else if (k == "listen_wal") err = want_str(wal);
    else if (k == "listen_http") err = want_str(http);
    else if (k == "listen_pg") err = want_str(pg);
    else if (k == "retention_bytes") err = want_int(c.retention_bytes);
    else if (k == "log_level") err = want_str(c.log_level);
    else if (k == "sync_interval_ms") err = want_int(c.sync_interval_ms);
    else if (k == "idle_timeout_ms") err = want_int(c.idle_timeout_ms);
    else if (k == "peers") {
      // A string "h:p,h:p" or an array of "h:p" strings.
      if (node.kind == net::ConfigValue::Kind::kStringArray) {
        std::string joined;
        for (const std::string& item : node.strings) joined += (joined.empty() ? "" : ",") + item;
        if (!on_cli) peers = joined;
      } else {
        err = want_str(peers);
      }
    } else {
      err = error_exit(fmt::format(
          "{}: unknown key '{}' (expected id, data_dir, listen_wal, listen_http, listen_pg, "
          "retention_bytes, log_level, sync_interval_ms, idle_timeout_ms, peers)",
          where, k));
    }
    if (err) return err;
  }
  return std::nullopt;
}

}  // namespace

// The file's contents: `text` when given (parse_config_text), else read from --config.
static std::variant<Config, ParseExit> parse(int argc, char** argv, const std::string_view* text,
                                             std::string_view origin) {
  CLI::App app{"walquorum-safekeeper: a Paxos acceptor that stores PostgreSQL WAL", kProgram};
  Config c;
  std::string wal, http, pg, config_path, peers;
  app.add_option("--id", c.id, "node id of this safekeeper (unique in the cluster)");
  app.add_option("--data-dir", c.data_dir, "data directory (timelines/, meta/)");
  app.add_option("--listen-wal", wal, "HOST:PORT for proposers and peers (port 0: kernel picks, written to <data>/wal.port)");
  app.add_option("--listen-http", http, "HOST:PORT for /v1/status, /v1/tenant/<t>/timeline/<tl>, /metrics (port 0: <data>/http.port)");
  app.add_option("--listen-pg", pg, "HOST:PORT for learners: the PostgreSQL replication protocol (port 0: <data>/pg.port)");
  app.add_option("--config", config_path, "TOML file with the same keys (data_dir, listen_wal, ...); flags override it");
  app.add_option("--retention-bytes", c.retention_bytes, "WAL kept below the persisted commit LSN (0 = keep all)");
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error");
  app.add_option("--sync-interval-ms", c.sync_interval_ms, "longest wait of a written append for its fdatasync");
  app.add_option("--idle-timeout-ms", c.idle_timeout_ms, "close a WAL connection silent for this long");
  app.add_option("--peers", peers,
                 "HOST:PORT,... WAL ports of the other safekeepers; a lagging or corrupt timeline "
                 "fetches committed WAL from them when no proposer streams to it");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return ParseExit{0, app.help()};
  } catch (const CLI::ParseError& e) {
    return error_exit(e.what());
  }
  if (text != nullptr) {
    if (auto err = apply_toml(*text, std::string(origin), app, c, wal, http, pg, peers)) return *err;
  } else if (!config_path.empty()) {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) return error_exit(fmt::format("config {}: cannot open the file", config_path));
    std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return error_exit(fmt::format("config {}: cannot read the file", config_path));
    if (auto err = apply_toml(contents, config_path, app, c, wal, http, pg, peers)) return *err;
  }
  if (c.id == 0) return error_exit("--id N is required (a positive node id)");
  if (c.data_dir.empty()) return error_exit("--data-dir DIR is required");
  if (wal.empty()) return error_exit("--listen-wal HOST:PORT is required");
  if (http.empty()) return error_exit("--listen-http HOST:PORT is required");
  auto w = net::parse_host_port(wal);
  if (!w) return error_exit("--listen-wal: " + w.error().message);
  c.listen_wal = *w;
  auto h = net::parse_host_port(http);
  if (!h) return error_exit("--listen-http: " + h.error().message);
  c.listen_http = *h;
  if (!pg.empty()) {
    auto p = net::parse_host_port(pg);
    if (!p) return error_exit("--listen-pg: " + p.error().message);
    c.listen_pg = *p;
  }
  if (!peers.empty()) {
    std::size_t start = 0;
    while (start <= peers.size()) {
      std::size_t comma = peers.find(',', start);
      std::string item = peers.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start);
      auto hp = net::parse_host_port(item);
      if (!hp || hp->port == 0) {
        return error_exit(fmt::format("--peers: '{}' is not HOST:PORT with a non-zero port "
                                      "(expected a comma-separated list)",
                                      item));
      }
      c.peers.push_back(*hp);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.contains(c.log_level)) {
    return error_exit(fmt::format("--log-level '{}': expected trace, debug, info, warn or error",
                                  c.log_level));
  }
  if (c.sync_interval_ms == 0 || c.sync_interval_ms > 1000) {
    return error_exit("--sync-interval-ms must be in 1..1000");
  }
  return c;
}

std::variant<Config, ParseExit> parse_args(int argc, char** argv) {
  return parse(argc, argv, nullptr, {});
}

std::variant<Config, ParseExit> parse_config_text(std::string_view text, std::string_view origin) {
  std::string program(kProgram);
  char* argv[] = {program.data(), nullptr};
  return parse(1, argv, &text, origin);
}

}  // namespace wq::safekeeper
