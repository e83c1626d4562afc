// libFuzzer target: the config files of both daemons (byte 0 picks the daemon:
// bit 0 clear safekeeper, set pageserver; the rest is the file's text), through
// parse_config_text: the TOML subset parser (net/config_toml.h), the key checks
// and the validation parse_args applies. Nothing may crash or throw; a refusal
// is exit code 2 with one line naming the problem; an accepted config holds
// every integer key's value exactly (no silent narrowing) and passes the
// validation rules. The parser alone: what it accepts, written back out as
// TOML, parses to the same entries.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>


#include "base/assert.h"
#include "net/config_toml.h"
#include "pageserver/config.h"
#include "safekeeper/config.h"

namespace {

template <typename Exit>
void check_exit(const Exit& e) {
  WQ_ASSERT(e.exit_code == 2, "exit code {} for a config file", e.exit_code);
  WQ_ASSERT(!e.text.empty() && e.text.find('\n') == std::string::npos, "not one line: {}", e.text);
}

using wq::net::ConfigEntry;
using wq::net::ConfigValue;

template <typename Field>
void check_int(const std::vector<ConfigEntry>& entries, std::string_view key, Field field) {
  for (const ConfigEntry& e : entries) {
    if (e.key != key) continue;
    WQ_ASSERT(e.value.kind == ConfigValue::Kind::kInteger && e.value.integer >= 0 &&
                  static_cast<std::uint64_t>(e.value.integer) == static_cast<std::uint64_t>(field),
              "key {} = {} became {}", key, e.value.integer, static_cast<std::uint64_t>(field));
  }
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The entries written back as TOML.
std::string write_back(const std::vector<ConfigEntry>& entries) {
  std::string out;
  for (const ConfigEntry& e : entries) {
    out += e.key + " = ";
    switch (e.value.kind) {
      case ConfigValue::Kind::kString: out += quoted(e.value.text); break;
      case ConfigValue::Kind::kInteger: out += std::to_string(e.value.integer); break;
      case ConfigValue::Kind::kBool: out += e.value.boolean ? "true" : "false"; break;
      case ConfigValue::Kind::kStringArray:
        out += "[";
        for (const auto& item : e.value.strings) out += quoted(item) + ", ";
        out += "]";
        break;
    }
    out += "\n";
  }
  return out;
}

bool same(const std::vector<ConfigEntry>& a, const std::vector<ConfigEntry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const ConfigValue &x = a[i].value, &y = b[i].value;
    if (a[i].key != b[i].key || x.kind != y.kind || x.text != y.text || x.integer != y.integer ||
        x.boolean != y.boolean || x.strings != y.strings) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto entries = wq::net::parse_config_toml(text);
  if (entries) {
    const auto again = wq::net::parse_config_toml(write_back(*entries));
    WQ_ASSERT(again.has_value() && same(*entries, *again), "written back, the entries differ: {}",
              again ? std::string("other entries") : again.error().message);
  } else {
    WQ_ASSERT(entries.error().message.find('\n') == std::string::npos, "multi-line error");
  }
  if (data[0] & 1) {
    auto r = wq::pageserver::parse_config_text(text, "fuzz.toml");
    if (auto* e = std::get_if<wq::pageserver::ParseExit>(&r)) return check_exit(*e), 0;
    const auto& c = std::get<wq::pageserver::Config>(r);
    WQ_ASSERT(entries.has_value(), "accepted a file the parser refuses");
    const auto& t = *entries;
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
    WQ_ASSERT(entries.has_value(), "accepted a file the parser refuses");
    const auto& t = *entries;
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
