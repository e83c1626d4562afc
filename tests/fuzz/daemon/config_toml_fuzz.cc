// libFuzzer target: the TOML configuration of both daemons (byte 0 picks the
// daemon: bit 0 clear safekeeper, set pageserver; the rest is the file's text),
// through parse_config_text: toml++'s parser (header-only, so instrumented),
// the key checks and the validation parse_args applies. Nothing may crash or
// throw; a refusal is exit code 2 with one line naming the problem; an accepted
// config holds every integer key's value exactly (no silent narrowing) and
// passes the validation rules.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#undef TOML_HEADER_ONLY
#undef TOML_SHARED_LIB
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "base/assert.h"
#include "pageserver/config.h"
#include "safekeeper/config.h"

namespace {

template <typename Exit>
void check_exit(const Exit& e) {
  WQ_ASSERT(e.exit_code == 2, "exit code {} for a config file", e.exit_code);
  WQ_ASSERT(!e.text.empty() && e.text.find('\n') == std::string::npos, "not one line: {}", e.text);
}

// The integer key `key` of the file, if it has one.
std::optional<std::int64_t> int_key(const toml::table& t, std::string_view key) {
  return t[key].value<std::int64_t>();
}

template <typename Field>
void check_int(const toml::table& t, std::string_view key, Field field) {
  if (auto v = int_key(t, key)) {
    WQ_ASSERT(*v >= 0 && static_cast<std::uint64_t>(*v) == static_cast<std::uint64_t>(field),
              "key {} = {} became {}", key, *v, static_cast<std::uint64_t>(field));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    auto r = wq::pageserver::parse_config_text(text, "fuzz.toml");
    if (auto* e = std::get_if<wq::pageserver::ParseExit>(&r)) return check_exit(*e), 0;
    const auto& c = std::get<wq::pageserver::Config>(r);
    // Accepted text is ASCII, which toml++ parses safely (see config.cc).
    toml::parse_result parsed = toml::parse(text, std::string_view("fuzz.toml"));
    WQ_ASSERT(parsed, "accepted a file toml++ rejects");
    const toml::table& t = parsed.table();
    check_int(t, "image_threshold", c.image_threshold);
    check_int(t, "getpage_timeout_ms", c.getpage_timeout_ms);
    check_int(t, "stall_timeout_ms", c.stall_timeout_ms);
    check_int(t, "status_interval_ms", c.status_interval_ms);
    check_int(t, "sync_interval_ms", c.sync_interval_ms);
    check_int(t, "retention_bytes", c.retention_bytes);
    check_int(t, "compaction_interval_ms", c.compaction_interval_ms);
    check_int(t, "image_queue_max", c.image_queue_max);
    check_int(t, "getpage_threads", c.getpage_threads);
    check_int(t, "wal_segment_mb", c.wal_segment_mb);
    WQ_ASSERT(!c.data_dir.empty() && !c.safekeepers.empty(), "accepted without data_dir/safekeepers");
    for (const auto& hp : c.safekeepers) WQ_ASSERT(hp.port != 0, "safekeeper port 0 accepted");
    WQ_ASSERT(c.getpage_threads >= 1 && c.getpage_threads <= 256, "getpage_threads {}", c.getpage_threads);
    WQ_ASSERT(c.wal_segment_mb >= 1 && c.wal_segment_mb <= 1024 &&
                  (c.wal_segment_mb & (c.wal_segment_mb - 1)) == 0,
              "wal_segment_mb {}", c.wal_segment_mb);
  } else {
    auto r = wq::safekeeper::parse_config_text(text, "fuzz.toml");
    if (auto* e = std::get_if<wq::safekeeper::ParseExit>(&r)) return check_exit(*e), 0;
    const auto& c = std::get<wq::safekeeper::Config>(r);
    // Accepted text is ASCII, which toml++ parses safely (see config.cc).
    toml::parse_result parsed = toml::parse(text, std::string_view("fuzz.toml"));
    WQ_ASSERT(parsed, "accepted a file toml++ rejects");
    const toml::table& t = parsed.table();
    check_int(t, "id", c.id);
    check_int(t, "retention_bytes", c.retention_bytes);
    check_int(t, "sync_interval_ms", c.sync_interval_ms);
    check_int(t, "idle_timeout_ms", c.idle_timeout_ms);
    WQ_ASSERT(c.id != 0 && !c.data_dir.empty(), "accepted without id/data_dir");
    WQ_ASSERT(c.sync_interval_ms >= 1 && c.sync_interval_ms <= 1000, "sync_interval_ms {}",
              c.sync_interval_ms);
    for (const auto& hp : c.peers) WQ_ASSERT(hp.port != 0, "peer port 0 accepted");
  }
  return 0;
}
