// Flags and TOML file of walquorum-pageserver (see config.h). CLI11 reports
// parse errors by throwing; they are caught here and become values.
#include "pageserver/config.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <iterator>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "net/config_toml.h"


namespace wq::pageserver {

namespace {

constexpr const char* kProgram = "walquorum-pageserver";

ParseExit error_exit(const std::string& what) {
  return ParseExit{2, fmt::format("{}: error: {} (see --help)", kProgram, what)};
}

struct Text {
  std::string safekeepers, listen_page, listen_http, tenant, timeline, start_lsn;
};

std::optional<ParseExit> apply_toml(std::string_view text, const std::string& path,
                                    const CLI::App& app, Config& c, Text& t) {
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
    auto want_bool = [&](bool& out) -> std::optional<ParseExit> {
      if (node.kind != net::ConfigValue::Kind::kBool) {
        return error_exit(fmt::format("{}: key '{}' must be true or false", where, k));
      }
      if (!on_cli) out = node.boolean;
      return std::nullopt;
    };
    std::optional<ParseExit> err;
    if (k == "data_dir") err = want_str(c.data_dir);
    else if (k == "safekeepers") err = want_str(t.safekeepers);
    else if (k == "listen_page") err = want_str(t.listen_page);
    else if (k == "listen_http") err = want_str(t.listen_http);
    else if (k == "image_threshold") err = want_int(c.image_threshold);
    else if (k == "tenant_id") err = want_str(t.tenant);
    else if (k == "timeline_id") err = want_str(t.timeline);
    else if (k == "plain_postgres") err = want_bool(c.plain_postgres);
    else if (k == "pg_user") err = want_str(c.pg_user);
    else if (k == "start_lsn") err = want_str(t.start_lsn);
    else if (k == "getpage_timeout_ms") err = want_int(c.getpage_timeout_ms);
    else if (k == "stall_timeout_ms") err = want_int(c.stall_timeout_ms);
    else if (k == "status_interval_ms") err = want_int(c.status_interval_ms);
    else if (k == "sync_interval_ms") err = want_int(c.sync_interval_ms);
    else if (k == "retention_bytes") err = want_int(c.retention_bytes);
    else if (k == "compaction_interval_ms") err = want_int(c.compaction_interval_ms);
    else if (k == "image_queue_max") err = want_int(c.image_queue_max);
    else if (k == "getpage_threads") err = want_int(c.getpage_threads);
    else if (k == "wal_segment_mb") err = want_int(c.wal_segment_mb);
    else if (k == "log_level") err = want_str(c.log_level);
    else if (k == "slot_name") err = want_str(c.slot_name);
    else if (k == "no_slot") err = want_bool(c.no_slot);
    else if (k == "probe_interval_ms") err = want_int(c.probe_interval_ms);
    else if (k == "behind_margin_bytes") err = want_int(c.behind_margin_bytes);
    else if (k == "behind_grace_ms") err = want_int(c.behind_grace_ms);
    else {
      err = error_exit(fmt::format(
          "{}: unknown key '{}' (expected the long flag names with '_': data_dir, safekeepers, "
          "listen_page, listen_http, image_threshold, tenant_id, timeline_id, ...)",
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
  CLI::App app{"walquorum-pageserver: PostgreSQL pages at any LSN, from safekeepers' WAL", kProgram};
  Config c;
  Text t;
  std::string config_path;
  app.add_option("--data-dir", c.data_dir, "data directory (page store in <dir>/pages)");
  app.add_option("--safekeepers", t.safekeepers, "H:P,... the safekeepers' PostgreSQL-protocol ports");
  app.add_option("--listen-page", t.listen_page, "HOST:PORT for GetPage@LSN (port 0: <data>/page.port)");
  app.add_option("--listen-http", t.listen_http, "HOST:PORT for /v1/status and /metrics (port 0: <data>/http.port)");
  app.add_option("--image-threshold", c.image_threshold, "deltas per page before an image is generated (0: never)");
  app.add_option("--config", config_path, "TOML file with the same keys (data_dir, safekeepers, ...); flags override it");
  app.add_option("--tenant-id", t.tenant, "32 hex digits (sent as -c tenant_id=...)");
  app.add_option("--timeline-id", t.timeline, "32 hex digits (sent as -c timeline_id=...)");
  app.add_flag("--plain-postgres", c.plain_postgres, "the WAL source is a stock PostgreSQL primary: no tenant/timeline options");
  app.add_option("--pg-user", c.pg_user, "user for the replication connections (default: libpq's)");
  app.add_option("--start-lsn", t.start_lsn, "X/Y where an empty store starts (default: the segment of the source's flush LSN)");
  app.add_option("--getpage-timeout-ms", c.getpage_timeout_ms, "longest wait of a GetPage for ingest to reach its LSN");
  app.add_option("--stall-timeout-ms", c.stall_timeout_ms, "fail over when a connection is silent this long");
  app.add_option("--status-interval-ms", c.status_interval_ms, "longest gap between standby status updates");
  app.add_option("--sync-interval-ms", c.sync_interval_ms, "longest wait of ingested WAL for its sync");
  app.add_option("--retention-bytes", c.retention_bytes, "keep versions readable this far below the durable LSN (0: all)");
  app.add_option("--compaction-interval-ms", c.compaction_interval_ms, "how often retention runs");
  app.add_option("--image-queue-max", c.image_queue_max, "bound of the image-generation queue");
  app.add_option("--getpage-threads", c.getpage_threads, "threads serving GetPage");
  app.add_option("--wal-segment-mb", c.wal_segment_mb, "WAL segment size of the source in MiB");
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error");
  app.add_option("--slot-name", c.slot_name,
                 "replication slot kept on every safekeeper ([a-z0-9_], at most 63; default "
                 "pageserver_<16 hex from <data-dir>/pageserver.id>, none with --plain-postgres)");
  app.add_flag("--no-slot", c.no_slot, "stream without a replication slot");
  app.add_option("--probe-interval-ms", c.probe_interval_ms,
                 "how often every source is asked for its position and the slot moved there (0: never)");
  app.add_option("--behind-margin-bytes", c.behind_margin_bytes,
                 "leave the source when another is this far ahead of it ...");
  app.add_option("--behind-grace-ms", c.behind_grace_ms, "... and it has not caught up this long after");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return ParseExit{0, app.help()};
  } catch (const CLI::ParseError& e) {
    return error_exit(e.what());
  }
  if (text != nullptr) {
    if (auto err = apply_toml(*text, std::string(origin), app, c, t)) return *err;
  } else if (!config_path.empty()) {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) return error_exit(fmt::format("config {}: cannot open the file", config_path));
    std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return error_exit(fmt::format("config {}: cannot read the file", config_path));
    if (auto err = apply_toml(contents, config_path, app, c, t)) return *err;
  }
  if (c.data_dir.empty()) return error_exit("--data-dir DIR is required");
  if (t.safekeepers.empty()) return error_exit("--safekeepers H:P,... is required");
  if (t.listen_page.empty()) return error_exit("--listen-page HOST:PORT is required");
  if (t.listen_http.empty()) return error_exit("--listen-http HOST:PORT is required");
  std::size_t pos = 0;
  while (pos <= t.safekeepers.size()) {
    std::size_t comma = t.safekeepers.find(',', pos);
    if (comma == std::string::npos) comma = t.safekeepers.size();
    auto hp = net::parse_host_port(std::string_view(t.safekeepers).substr(pos, comma - pos));
    if (!hp) return error_exit("--safekeepers: " + hp.error().message);
    if (hp->port == 0) return error_exit("--safekeepers: port 0 is not a safekeeper's port");
    c.safekeepers.push_back(*hp);
    pos = comma + 1;
  }
  auto lp = net::parse_host_port(t.listen_page);
  if (!lp) return error_exit("--listen-page: " + lp.error().message);
  c.listen_page = *lp;
  auto lh = net::parse_host_port(t.listen_http);
  if (!lh) return error_exit("--listen-http: " + lh.error().message);
  c.listen_http = *lh;
  if (!t.tenant.empty()) {
    auto id = parse_id_hex(t.tenant);
    if (!id) return error_exit("--tenant-id: " + id.error().message);
    c.tenant = *id;
  }
  if (!t.timeline.empty()) {
    auto id = parse_id_hex(t.timeline);
    if (!id) return error_exit("--timeline-id: " + id.error().message);
    c.timeline = *id;
  }
  if (!c.plain_postgres && (t.tenant.empty() || t.timeline.empty())) {
    return error_exit("--tenant-id and --timeline-id are required unless --plain-postgres");
  }
  if (!t.start_lsn.empty()) {
    auto l = wal::Lsn::parse(t.start_lsn);
    if (!l) return error_exit("--start-lsn: " + l.error().message);
    c.start_lsn = *l;
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.contains(c.log_level)) {
    return error_exit(fmt::format("--log-level '{}': expected trace, debug, info, warn or error",
                                  c.log_level));
  }
  if (!c.slot_name.empty()) {
    bool ok = c.slot_name.size() <= 63 && std::all_of(c.slot_name.begin(), c.slot_name.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
    if (!ok) {
      return error_exit(fmt::format("--slot-name '{}': expected 1 to 63 of a-z, 0-9 and _", c.slot_name));
    }
    if (c.no_slot) return error_exit("--slot-name and --no-slot exclude each other");
  }
  if (c.probe_interval_ms != 0 && c.probe_interval_ms < 100) {
    return error_exit("--probe-interval-ms must be 0 (off) or at least 100");
  }
  if (c.image_queue_max == 0) return error_exit("--image-queue-max must be at least 1");
  if (c.getpage_threads == 0 || c.getpage_threads > 256) return error_exit("--getpage-threads must be in 1..256");
  if (c.sync_interval_ms == 0 || c.sync_interval_ms > 10'000) return error_exit("--sync-interval-ms must be in 1..10000");
  if (c.stall_timeout_ms < 100) return error_exit("--stall-timeout-ms must be at least 100");
  if (c.status_interval_ms == 0) return error_exit("--status-interval-ms must be at least 1");
  if (c.getpage_timeout_ms == 0) return error_exit("--getpage-timeout-ms must be at least 1");
  std::uint32_t mb = c.wal_segment_mb;
  if (mb == 0 || mb > 1024 || (mb & (mb - 1)) != 0) {
    return error_exit("--wal-segment-mb must be a power of two in 1..1024");
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

}  // namespace wq::pageserver
