// Safekeeper configuration: command-line flags (CLI11) over an optional TOML
// file (net/config_toml.h); flags override the file. Part of src/safekeeper. Bad input is
// one line naming what was wrong and what was expected; the caller exits 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/address.h"

namespace wq::safekeeper {

struct Config {
  std::uint64_t id = 0;
  std::string data_dir;
  net::HostPort listen_wal;
  net::HostPort listen_http;
  std::optional<net::HostPort> listen_pg;  // learners (replication protocol); port 0 writes <data>/pg.port
  // Keep at least this many bytes of WAL below the persisted commit LSN; older
  // whole segments are removed. 0 keeps everything.
  std::uint64_t retention_bytes = 0;
  std::string log_level = "info";
  // Group commit: the longest a written append waits for its fdatasync while
  // the I/O queue does not drain.
  std::uint32_t sync_interval_ms = 5;
  // A WAL-port connection that sends nothing for this long is closed.
  std::uint32_t idle_timeout_ms = 30'000;
  // The other safekeepers' WAL ports: a timeline that lags (or found corruption)
  // fetches committed WAL from them when no proposer streams to it.
  std::vector<net::HostPort> peers;
};

// What parse_args decided: run with a Config, or print `text` and exit with `exit_code`
// (0 after --help, on stdout; 2 for a bad flag or config, on stderr).
struct ParseExit {
  int exit_code = 2;
  std::string text;
};

std::variant<Config, ParseExit> parse_args(int argc, char** argv);
// parse_args with no flags and `text` as the --config file's contents (`origin`
// names it in messages): what a config file alone yields. Pure; for tests and fuzzing.
std::variant<Config, ParseExit> parse_config_text(std::string_view text, std::string_view origin);

}  // namespace wq::safekeeper
