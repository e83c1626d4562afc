// walquorum-compute flags: defaults, --help, and one-line errors with exit 2.
#include <doctest/doctest.h>

#include "compute/options.h"

namespace wq::compute {
namespace {

const std::string kHex(32, 'a');

std::vector<std::string> base_args() {
  return {"--safekeepers", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", "--tenant", kHex, "--timeline", kHex};
}

ParseExit must_fail(std::vector<std::string> args) {
  auto r = parse_args(args);
  REQUIRE(std::holds_alternative<ParseExit>(r));
  auto e = std::get<ParseExit>(r);
  CHECK(e.exit_code == 2);
  CHECK(e.text.find('\n') == std::string::npos);
  CHECK(e.text.rfind("walquorum-compute: ", 0) == 0);
  return e;
}

}  // namespace

TEST_CASE("defaults and every flag") {
  auto r = parse_args(base_args());
  REQUIRE(std::holds_alternative<Options>(r));
  auto o = std::get<Options>(r);
  CHECK(o.safekeepers.size() == 3);
  CHECK(o.fpw);
  CHECK_FALSE(o.fpw_switch_after_s);
  auto args = base_args();
  for (const char* a : {"--clients", "4", "--duration=2.5", "--fpw", "on", "--fpw-off-after", "1",
                        "--checkpoint-interval", "5", "--relations", "2", "--blocks", "16", "--hot-blocks-pct",
                        "20", "--hot-access-pct", "0", "--seed", "9", "--json", "--truth-dir", "/tmp/x",
                        "--proposer-id", "3", "--system-id", "77", "--commit-timeout-ms", "500", "--log-level",
                        "info"}) {
    args.push_back(a);
  }
  r = parse_args(args);
  REQUIRE(std::holds_alternative<Options>(r));
  o = std::get<Options>(r);
  CHECK(o.clients == 4);
  CHECK(o.duration_s == 2.5);
  CHECK(*o.fpw_switch_after_s == 1.0);
  CHECK(o.checkpoint_interval_s == 5);
  CHECK(o.relations == 2);
  CHECK(o.blocks == 16);
  CHECK(o.hot_blocks_pct == 20);
  CHECK(o.hot_access_pct == 0);
  CHECK(o.seed == 9);
  CHECK(o.json);
  CHECK(o.truth_dir == "/tmp/x");
  CHECK(o.proposer_id == 3);
  CHECK(o.system_id == 77);
  CHECK(o.commit_timeout_ms == 500);
}

TEST_CASE("--help exits 0 with the usage") {
  auto r = parse_args({"--help"});
  REQUIRE(std::holds_alternative<ParseExit>(r));
  CHECK(std::get<ParseExit>(r).exit_code == 0);
  CHECK(std::get<ParseExit>(r).text.find("--fpw-off-after") != std::string::npos);
}

TEST_CASE("bad flags: one line, exit 2, naming the flag") {
  CHECK(must_fail({}).text.find("--safekeepers") != std::string::npos);
  auto a = base_args();
  a.push_back("--bogus");
  CHECK(must_fail(a).text.find("--bogus") != std::string::npos);
  for (const auto& fv : std::vector<std::pair<std::string, std::string>>{
           {"--clients", "0"}, {"--clients", "x"}, {"--duration", "-1"}, {"--fpw", "maybe"},
           {"--relations", "0"}, {"--blocks", "1e3"}, {"--hot-blocks-pct", "0"}, {"--hot-access-pct", "101"},
           {"--seed", "-3"}, {"--tenant", "abc"}, {"--safekeepers", "nohost"}, {"--safekeepers", "h:0"},
           {"--checkpoint-interval", "0"}, {"--log-level", "loud"}, {"--history", ""}}) {
    const std::string& flag = fv.first;
    const std::string& value = fv.second;
    auto args = base_args();
    args.push_back(flag);
    args.push_back(value);
    CHECK_MESSAGE(must_fail(args).text.find(flag) != std::string::npos, flag, " ", value);
  }
  a = base_args();
  a.push_back("--clients");
  CHECK(must_fail(a).text.find("needs a value") != std::string::npos);
  a = base_args();
  for (const char* x : {"--fpw", "off", "--fpw-off-after", "3"}) a.push_back(x);
  must_fail(a);
  a = base_args();
  for (const char* x : {"--fpw-on-after", "3"}) a.push_back(x);
  must_fail(a);
}

TEST_CASE("--history and --truth-dir, and the history format in --help") {
  auto a = base_args();
  for (const char* x : {"--history", "/tmp/h", "--truth-dir=/tmp/t"}) a.push_back(x);
  auto r = parse_args(a);
  REQUIRE(std::holds_alternative<Options>(r));
  CHECK(std::get<Options>(r).history == "/tmp/h");
  CHECK(std::get<Options>(r).truth_dir == "/tmp/t");
  CHECK(std::get<Options>(parse_args(base_args())).history.empty());
  CHECK(usage().find("<start X/Y> <end X/Y> <crc32c>") != std::string::npos);
}

}  // namespace wq::compute
