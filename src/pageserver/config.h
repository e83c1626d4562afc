// Command line and TOML configuration of walquorum-pageserver. Flags override
// the file; bad input is a one-line error and exit code 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/address.h"
#include "pageserver/keys.h"
#include "wal/lsn.h"

namespace wq::pageserver {

struct Config {
  std::string data_dir;
  std::vector<net::HostPort> safekeepers;  // their PostgreSQL-protocol ports
  net::HostPort listen_page, listen_http;
  std::uint32_t image_threshold = 64;      // 0 disables pushdown; 64: docs/BENCHMARKS.md §7 sweep
  Id tenant{}, timeline{};
  bool plain_postgres = false;             // omit tenant_id/timeline_id options (a stock primary)
  std::string pg_user;                     // empty: libpq's default (PGUSER, OS user)
  std::optional<wal::Lsn> start_lsn;       // first start of an empty store
  std::uint32_t getpage_timeout_ms = 10'000;
  std::uint32_t stall_timeout_ms = 10'000;
  std::uint32_t status_interval_ms = 1'000;
  std::uint32_t sync_interval_ms = 100;
  std::uint64_t retention_bytes = 0;       // horizon = durable LSN - this; 0 keeps everything
  std::uint32_t compaction_interval_ms = 10'000;
  std::uint32_t image_queue_max = 1024;
  std::uint32_t getpage_threads = 4;
  std::uint32_t wal_segment_mb = 16;
  std::string log_level = "info";
  // Replication slot on every safekeeper: empty picks the default,
  // pageserver_<16 hex of <data-dir>/pageserver.id> (none with --plain-postgres);
  // no_slot streams without one.
  std::string slot_name;
  bool no_slot = false;
  std::uint32_t probe_interval_ms = 3'000;  // 0: no probes (no "behind" switch, no slot moves)
  std::uint64_t behind_margin_bytes = 0;
  std::uint32_t behind_grace_ms = 5'000;
};

struct ParseExit {
  int exit_code;
  std::string text;
};

std::variant<Config, ParseExit> parse_args(int argc, char** argv);
// parse_args with no flags and `text` as the --config file's contents (`origin`
// names it in messages): what a config file alone yields. Pure; for tests and fuzzing.
std::variant<Config, ParseExit> parse_config_text(std::string_view text, std::string_view origin);

}  // namespace wq::pageserver
