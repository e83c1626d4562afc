// walquorum-compute flag parsing (see options.h).
#include "compute/options.h"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace wq::compute {
namespace {

ParseExit bad(const std::string& what) { return ParseExit{2, "walquorum-compute: " + what}; }

std::optional<double> parse_seconds(const std::string& s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || !std::isfinite(v) || v < 0) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool is_hex32(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::variant<FlagArg, std::string> next_flag(const std::vector<std::string>& args, std::size_t& i,
                                             std::span<const char* const> valued) {
  FlagArg f;
  f.name = args[i];
  bool inline_value = false;
  if (auto eq = f.name.find('='); f.name.rfind("--", 0) == 0 && eq != std::string::npos) {
    f.value = f.name.substr(eq + 1);
    f.name = f.name.substr(0, eq);
    inline_value = true;
  }
  for (const char* k : valued) f.valued = f.valued || f.name == k;
  if (f.valued && !inline_value) {
    if (i + 1 >= args.size()) return fmt::format("{} needs a value", f.name);
    f.value = args[++i];
  }
  return f;
}

std::string usage() {
  return R"(walquorum-compute: the synthetic compute. TPC-C-like transactions on real 8 KiB
PostgreSQL pages, written as generic WAL through a quorum of safekeepers.

usage: walquorum-compute --safekeepers H:P,H:P,H:P --tenant T --timeline TL [flags]

  --safekeepers LIST         safekeepers' WAL ports, comma-separated (required)
  --tenant HEX32             tenant id, 32 hex digits (required)
  --timeline HEX32           timeline id, 32 hex digits (required)
  --clients N                concurrent clients, each waiting for quorum commit (8)
  --duration S               seconds of transactions after the load (10)
  --fpw on|off               full_page_writes (on)
  --fpw-off-after S          with --fpw on: switch it off after S seconds (XLOG_FPW_CHANGE)
  --fpw-on-after S           with --fpw off: switch it on after S seconds
  --checkpoint-interval S    seconds between online checkpoints (30)
  --relations R              data relations, stock- and customer-like (8)
  --blocks B                 blocks per data relation (16384: 8 x 16384 pages = 1 GiB)
  --hot-blocks-pct P         the hot set: the first P % of each data relation's blocks (10)
  --hot-access-pct P         share of data-page accesses going to the hot set (50)
  --seed N                   seed of every choice the clients make (1)
  --json                     print the final summary as JSON
  --truth-dir DIR            write the truth journal (page contents at every LSN) to DIR,
                             with DIR/committed (the quorum-commit LSN, X/Y, refreshed each
                             second and at exit) and DIR/timeline (tenant and timeline ids)
  --history FILE             append one line per acknowledged commit to FILE (see below)
  --system-id N              PostgreSQL system identifier in WAL page headers
  --proposer-id N            this compute's id in greetings (0: random)
  --commit-timeout-ms MS     give up when a commit waits longer (30000)
  --log-level LEVEL          trace|debug|info|warn|error|off (warn)
  --help                     this text

The ack history (--history): one line per transaction whose commit record is
known to be quorum-committed, in the order the compute acknowledged them:
  <start X/Y> <end X/Y> <crc32c>
where [start, end) is the commit record's span in the WAL stream and crc32c
(8 lowercase hex digits) is over the stream bytes in that span exactly as they
lie in the segments (a page header included if the record crosses a page).
Lines are written whole with one write(2) each; after a kill -9 only a torn
last line can appear, and readers ignore it.

`walquorum-compute verify --help` describes the verify subcommand.

SIGINT or SIGTERM ends the run early as if --duration had passed (the pending
WAL is committed, the summary printed).

A progress line goes to stderr once a second; the summary to stdout. Exit codes:
0 done, 1 failure, 2 bad flags, 3 superseded by a compute with a higher term.)";
}

std::variant<Options, ParseExit> parse_args(const std::vector<std::string>& args) {
  Options o;
  bool have_sk = false, have_tenant = false, have_tl = false;
  std::optional<double> off_after, on_after;
  for (std::size_t i = 0; i < args.size(); ++i) {
    static const char* const kValued[] = {
        "--safekeepers", "--tenant", "--timeline", "--clients", "--duration", "--fpw",
        "--fpw-off-after", "--fpw-on-after", "--checkpoint-interval", "--relations", "--blocks",
        "--hot-blocks-pct", "--hot-access-pct", "--seed", "--truth-dir", "--system-id",
        "--proposer-id", "--commit-timeout-ms", "--log-level", "--history"};
    const std::size_t at = i;
    auto next = next_flag(args, i, kValued);
    if (auto* e = std::get_if<std::string>(&next)) return bad(*e);
    const FlagArg& arg = std::get<FlagArg>(next);
    const std::string& flag = arg.name;
    const std::string& value = arg.value;
    if (flag == "--help" || flag == "-h") return ParseExit{0, usage()};
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (!arg.valued) return bad(fmt::format("unknown flag '{}' (see --help)", args[at]));
    auto count = [&](std::uint64_t lo, std::uint64_t hi) -> std::optional<std::uint64_t> {
      auto v = parse_u64(value);
      if (!v || *v < lo || *v > hi) return std::nullopt;
      return v;
    };
    auto bad_count = [&](std::uint64_t lo, std::uint64_t hi) {
      return bad(fmt::format("{}: expected an integer {}..{}, got '{}'", flag, lo, hi, value));
    };
    auto bad_seconds = [&] {
      return bad(fmt::format("{}: expected seconds (a number >= 0), got '{}'", flag, value));
    };
    if (flag == "--safekeepers") {
      o.safekeepers.clear();
      std::size_t pos = 0;
      while (pos <= value.size()) {
        std::size_t comma = value.find(',', pos);
        if (comma == std::string::npos) comma = value.size();
        std::string hp = value.substr(pos, comma - pos);
        auto colon = hp.rfind(':');
        auto port = colon == std::string::npos ? std::nullopt : parse_u64(hp.substr(colon + 1));
        if (colon == 0 || !port || *port == 0 || *port > 65535) {
          return bad(fmt::format("--safekeepers: expected host:port[,host:port...], got '{}'", value));
        }
        o.safekeepers.push_back(hp);
        pos = comma + 1;
      }
      have_sk = true;
    } else if (flag == "--tenant" || flag == "--timeline") {
      if (!is_hex32(value)) return bad(fmt::format("{}: expected 32 hex digits, got '{}'", flag, value));
      (flag == "--tenant" ? o.tenant : o.timeline) = value;
      (flag == "--tenant" ? have_tenant : have_tl) = true;
    } else if (flag == "--clients") {
      auto v = count(1, 1024);
      if (!v) return bad_count(1, 1024);
      o.clients = static_cast<std::uint32_t>(*v);
    } else if (flag == "--duration" || flag == "--checkpoint-interval" || flag == "--fpw-off-after" ||
               flag == "--fpw-on-after") {
      auto v = parse_seconds(value);
      if (!v) return bad_seconds();
      if (flag == "--duration") o.duration_s = *v;
      if (flag == "--checkpoint-interval") {
        if (*v < 0.1) return bad("--checkpoint-interval: expected at least 0.1 seconds");
        o.checkpoint_interval_s = *v;
      }
      if (flag == "--fpw-off-after") off_after = *v;
      if (flag == "--fpw-on-after") on_after = *v;
    } else if (flag == "--fpw") {
      if (value != "on" && value != "off") return bad(fmt::format("--fpw: expected on or off, got '{}'", value));
      o.fpw = value == "on";
    } else if (flag == "--relations") {
      auto v = count(1, 256);
      if (!v) return bad_count(1, 256);
      o.relations = static_cast<std::uint32_t>(*v);
    } else if (flag == "--blocks") {
      auto v = count(1, 1u << 20);
      if (!v) return bad_count(1, 1u << 20);
      o.blocks = static_cast<std::uint32_t>(*v);
    } else if (flag == "--hot-blocks-pct") {
      auto v = count(1, 100);
      if (!v) return bad_count(1, 100);
      o.hot_blocks_pct = static_cast<std::uint32_t>(*v);
    } else if (flag == "--hot-access-pct") {
      auto v = count(0, 100);
      if (!v) return bad_count(0, 100);
      o.hot_access_pct = static_cast<std::uint32_t>(*v);
    } else if (flag == "--seed" || flag == "--system-id" || flag == "--proposer-id") {
      auto v = parse_u64(value);
      if (!v) return bad(fmt::format("{}: expected an unsigned integer, got '{}'", flag, value));
      (flag == "--seed" ? o.seed : flag == "--system-id" ? o.system_id : o.proposer_id) = *v;
    } else if (flag == "--truth-dir") {
      if (value.empty()) return bad("--truth-dir: expected a directory");
      o.truth_dir = value;
    } else if (flag == "--history") {
      if (value.empty()) return bad("--history: expected a file");
      o.history = value;
    } else if (flag == "--commit-timeout-ms") {
      auto v = count(1, 3'600'000);
      if (!v) return bad_count(1, 3'600'000);
      o.commit_timeout_ms = static_cast<std::uint32_t>(*v);
    } else if (flag == "--log-level") {
      static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
      bool ok = false;
      for (const char* l : kLevels) ok = ok || value == l;
      if (!ok) return bad(fmt::format("--log-level: expected trace|debug|info|warn|error|off, got '{}'", value));
      o.log_level = value;
    }
  }
  if (!have_sk) return bad("--safekeepers is required (host:port,...)");
  if (!have_tenant) return bad("--tenant is required (32 hex digits)");
  if (!have_tl) return bad("--timeline is required (32 hex digits)");
  if (off_after && on_after) return bad("--fpw-off-after and --fpw-on-after cannot both be given");
  if (off_after && !o.fpw) return bad("--fpw-off-after needs --fpw on");
  if (on_after && o.fpw) return bad("--fpw-on-after needs --fpw off");
  o.fpw_switch_after_s = off_after ? off_after : on_after;
  return o;
}

}  // namespace wq::compute
