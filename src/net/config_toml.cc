// The config-file subset of TOML (see config_toml.h).
#include "net/config_toml.h"

#include <fmt/format.h>

#include <limits>
#include <set>

namespace wq::net {

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  base::Result<std::vector<ConfigEntry>> run() {
    std::vector<ConfigEntry> out;
    std::set<std::string> seen;
    while (true) {
      skip_blank();
      if (at_end()) return out;
      if (eol()) {
        next_line();
        continue;
      }
      if (peek() == '#') {
        if (auto st = skip_comment(); !st) return base::Unexpected{st.error()};
        continue;
      }
      if (peek() == '[') return fail("tables are not supported (the config is flat key = value lines)");
      ConfigEntry e;
      e.line = line_;
      while (!at_end() && bare_key_char(peek())) e.key += s_[pos_++];
      if (e.key.empty()) return fail(fmt::format("expected a bare key, found {}", describe()));
      skip_blank();
      if (at_end() || peek() != '=') {
        return fail(fmt::format("expected '=' after key '{}', found {}", e.key, describe()));
      }
      ++pos_;
      skip_blank();
      auto v = value(true);
      if (!v) return base::Unexpected{v.error()};
      e.value = std::move(*v);
      skip_blank();
      if (!at_end() && peek() == '#') {
        if (auto st = skip_comment(); !st) return base::Unexpected{st.error()};
      } else if (!at_end()) {
        if (!eol()) return fail(fmt::format("unexpected {} after the value of '{}'", describe(), e.key));
        next_line();
      }
      if (!seen.insert(e.key).second) {
        return base::Unexpected{base::ErrorCode::kInvalidArgument,
                                fmt::format("line {}: key '{}' given twice", e.line, e.key)};
      }
      out.push_back(std::move(e));
    }
  }

 private:
  static bool bare_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  bool eol() const {
    return peek() == '\n' || (peek() == '\r' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '\n');
  }
  void next_line() {
    pos_ += peek() == '\r' ? 2 : 1;
    ++line_;
  }
  void skip_blank() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  std::string describe() const {
    if (at_end()) return "the end of the file";
    const auto c = static_cast<unsigned char>(peek());
    if (c == '\n' || c == '\r') return "the end of the line";
    if (c < 0x20 || c >= 0x7F) return fmt::format("byte {:#04x}", c);
    return fmt::format("'{}'", static_cast<char>(c));
  }
  base::Unexpected fail(std::string what) const {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("line {}: {}", line_, what)};
  }
  // From '#' through the end of the line (control characters other than tab refused, as TOML does).
  base::Status skip_comment() {
    while (!at_end() && !eol()) {
      const auto c = static_cast<unsigned char>(peek());
      if ((c < 0x20 && c != '\t') || c == 0x7F) return fail(fmt::format("byte {:#04x} in a comment", c));
      ++pos_;
    }
    if (!at_end()) next_line();
    return base::Ok{};
  }

  base::Result<ConfigValue> value(bool top) {
    if (at_end() || eol()) return fail("a key without a value");
    const char c = peek();
    ConfigValue v;
    if (c == '"' || c == '\'') {
      auto str = string();
      if (!str) return base::Unexpected{str.error()};
      v.kind = ConfigValue::Kind::kString;
      v.text = std::move(*str);
      return v;
    }
    if (c == '[' && top) return array();
    if (s_.substr(pos_).starts_with("true") && !word_continues(pos_ + 4)) {
      pos_ += 4;
      v.kind = ConfigValue::Kind::kBool;
      v.boolean = true;
      return v;
    }
    if (s_.substr(pos_).starts_with("false") && !word_continues(pos_ + 5)) {
      pos_ += 5;
      v.kind = ConfigValue::Kind::kBool;
      return v;
    }
    if (top && (c == '+' || c == '-' || (c >= '0' && c <= '9'))) return integer();
    return fail(fmt::format("expected a string, integer, true, false{} but found {}",
                            top ? " or an array of strings" : "", describe()));
  }

  bool word_continues(std::size_t at) const {
    return at < s_.size() && (bare_key_char(s_[at]) || s_[at] == '.' || s_[at] == ':');
  }

  base::Result<ConfigValue> integer() {
    const std::size_t start = pos_;
    bool negative = false;
    if (peek() == '+' || peek() == '-') negative = s_[pos_++] == '-';
    std::uint64_t magnitude = 0;
    std::size_t digits = 0;
    bool last_underscore = false;
    while (!at_end() && ((peek() >= '0' && peek() <= '9') || peek() == '_')) {
      if (peek() == '_') {
        if (digits == 0 || last_underscore) return fail("'_' must sit between digits");
        last_underscore = true;
        ++pos_;
        continue;
      }
      last_underscore = false;
      if (digits == 1 && magnitude == 0) return fail("integers have no leading zeros");
      const std::uint64_t d = static_cast<std::uint64_t>(peek() - '0');
      if (magnitude > (std::uint64_t{1} << 63) / 10 ||
          magnitude * 10 + d > (std::uint64_t{1} << 63) - (negative ? 0 : 1)) {
        return fail("integer out of range");
      }
      magnitude = magnitude * 10 + d;
      ++digits;
      ++pos_;
    }
    if (digits == 0 || last_underscore) return fail("malformed integer");
    if (!at_end() && (bare_key_char(peek()) || peek() == '.' || peek() == ':')) {
      return fail(fmt::format("'{}...' is not a decimal integer (floats, dates and bases are not supported)",
                              s_.substr(start, pos_ - start)));
    }
    ConfigValue v;
    v.kind = ConfigValue::Kind::kInteger;
    v.integer = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return v;
  }

  base::Result<std::string> string() {
    const char quote = s_[pos_++];
    if (s_.substr(pos_).starts_with(std::string(2, quote))) {
      if (s_.substr(pos_ + 2).starts_with(std::string(1, quote))) {
        return fail("multi-line strings are not supported");
      }
    }
    std::string out;
    while (true) {
      if (at_end() || eol()) return fail("string not closed on its line");
      const char c = s_[pos_++];
      if (c == quote) return out;
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F) return fail(fmt::format("byte {:#04x} in a string", u));
      if (c == '\\' && quote == '"') {
        if (at_end()) return fail("string not closed on its line");
        const char e = s_[pos_++];
        if (e != '"' && e != '\\') return fail("unsupported escape in a string (only \\\" and \\\\)");
        out += e;
        continue;
      }
      out += c;
    }
  }

  // '[' strings, separated by ',', a trailing ',' allowed, ']'; may span lines with comments.
  base::Result<ConfigValue> array() {
    ++pos_;
    ConfigValue v;
    v.kind = ConfigValue::Kind::kStringArray;
    bool want_value = true;
    for (std::size_t guard = 0; guard <= s_.size(); ++guard) {
      skip_blank();
      if (at_end()) return fail("array not closed");
      if (eol()) {
        next_line();
        continue;
      }
      if (peek() == '#') {
        if (auto st = skip_comment(); !st) return base::Unexpected{st.error()};
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      if (peek() == ',') {
        if (want_value) return fail("',' without a value before it in an array");
        want_value = true;
        ++pos_;
        continue;
      }
      if (!want_value) return fail(fmt::format("expected ',' or ']' in an array, found {}", describe()));
      if (peek() != '"' && peek() != '\'') return fail("arrays hold strings only");
      auto str = string();
      if (!str) return base::Unexpected{str.error()};
      v.strings.push_back(std::move(*str));
      want_value = false;
    }
    return fail("array not closed");
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

base::Result<std::vector<ConfigEntry>> parse_config_toml(std::string_view text) {
  return Parser(text).run();
}

}  // namespace wq::net
