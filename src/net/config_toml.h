// The daemons' config files: a strict subset of TOML, parsed here instead of by
// toml++ (Debian's 3.3 asserts or reaches __builtin_unreachable on some
// malformed input, found by tests/fuzz/daemon/config_toml_fuzz). Pure.
//
// Accepted: one `key = value` per line; bare keys [A-Za-z0-9_-]+; values are
// basic strings "..." (escapes \" and \\ only: values hold no line breaks),
// literal strings '...',
// decimal integers (optional sign, '_' between digits, no leading zeros),
// true / false, and arrays of strings [ "a", 'b', ] that may span lines;
// comments from '#' to the end of the line; blank lines. Everything else —
// tables, dotted or quoted keys, floats, dates, multi-line strings, a key
// given twice — is an error naming the line, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace wq::net {

struct ConfigValue {
  enum class Kind { kString, kInteger, kBool, kStringArray };
  Kind kind = Kind::kString;
  std::string text;                  // kString
  std::int64_t integer = 0;          // kInteger
  bool boolean = false;              // kBool
  std::vector<std::string> strings;  // kStringArray
};

struct ConfigEntry {
  std::string key;
  ConfigValue value;
  int line = 0;  // 1-based line of the key
};

// Entries in file order. Errors: kInvalidArgument "line N: what was wrong".
base::Result<std::vector<ConfigEntry>> parse_config_toml(std::string_view text);

}  // namespace wq::net
