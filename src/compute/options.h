// walquorum-compute's command line: flags, defaults and checks. Pure; main.cc
// prints ParseExit::text and exits with its code (0 after --help on stdout, 2
// for a bad flag: one line on stderr naming the flag and what was expected).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace wq::compute {

struct Options {
  std::vector<std::string> safekeepers;  // host:port of each --listen-wal
  std::string tenant, timeline;          // 32 hex digits each
  std::uint32_t clients = 8;
  double duration_s = 10;
  bool fpw = true;
  // Switch full_page_writes at run time after this many seconds (XLOG_FPW_CHANGE).
  std::optional<double> fpw_switch_after_s;
  double checkpoint_interval_s = 30;
  std::uint32_t relations = 8;
  std::uint32_t blocks = 16384;
  std::uint32_t hot_blocks_pct = 10;
  std::uint32_t hot_access_pct = 50;
  std::uint64_t seed = 1;
  bool json = false;
  std::string truth_dir;  // empty: no truth journal
  std::string history;    // empty: no ack history (see usage())
  std::uint64_t system_id = 7400000000000000001ull;
  std::uint64_t proposer_id = 0;
  std::uint32_t commit_timeout_ms = 30'000;
  std::string log_level = "warn";
};

struct ParseExit {
  int exit_code = 2;
  std::string text;
};

std::string usage();
std::variant<Options, ParseExit> parse_args(const std::vector<std::string>& args);

// Pieces of the hand-written flag parsers shared by the compute and `verify`.
std::optional<std::uint64_t> parse_u64(const std::string& s);  // decimal, whole string
bool is_hex32(std::string_view s);                              // 32 hex digits

struct FlagArg {
  std::string name;    // "--samples"
  std::string value;   // from "--name=value", or the next argument for a valued name
  bool valued = false; // the name is one of `valued`
};
// Reads the flag at args[i]: "--name=value", or "--name value" for a name in
// `valued` (i then advances past the value). A valued name without a value is
// the error text "<name> needs a value"; other names come back unvalued for the
// caller to recognise (switches) or refuse.
std::variant<FlagArg, std::string> next_flag(const std::vector<std::string>& args, std::size_t& i,
                                             std::span<const char* const> valued);

}  // namespace wq::compute
