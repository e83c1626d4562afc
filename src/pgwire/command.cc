// Replication command parser (see command.h).
#include "pgwire/command.h"

#include <array>
#include <charconv>
#include <vector>

#include <fmt/format.h>

namespace wq::pgwire {

namespace {

constexpr std::size_t kTokensMax = 64;  // the longest valid command has about 12

struct Token {
  enum Kind { kWord, kQuoted, kNumber, kLsn, kPunct } kind = kWord;
  std::string text;  // kWord: as written; kQuoted: without quotes, "" unescaped
};

base::Unexpected syntax(std::string message) {
  return base::Unexpected{base::ErrorCode::kInvalidArgument, std::move(message)};
}
base::Unexpected unsupported(std::string message) {
  return base::Unexpected{base::ErrorCode::kUnsupported, std::move(message)};
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident_cont(char c) { return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }
bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string quote_for_message(std::string_view text) {
  constexpr std::size_t kShown = 60;
  if (text.size() <= kShown) return fmt::format("\"{}\"", text);
  return fmt::format("\"{}...\"", text.substr(0, kShown));
}

base::Result<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (out.size() == kTokensMax) {
      return syntax(fmt::format("command has more than {} tokens", kTokensMax));
    }
    if (c == '"') {
      std::string s;
      ++i;
      for (;;) {
        if (i >= text.size()) return syntax("unterminated quoted identifier");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            s.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        s.push_back(text[i++]);
      }
      if (s.empty()) return syntax("zero-length quoted identifier");
      out.push_back(Token{Token::kQuoted, std::move(s)});
      continue;
    }
    if (is_hex(c)) {
      // hex+ '/' hex+ is an LSN; digit+ a number; otherwise a word.
      std::size_t j = i;
      while (j < text.size() && is_hex(text[j])) ++j;
      if (j < text.size() && text[j] == '/' && j + 1 < text.size() && is_hex(text[j + 1])) {
        std::size_t k = j + 1;
        while (k < text.size() && is_hex(text[k])) ++k;
        out.push_back(Token{Token::kLsn, std::string(text.substr(i, k - i))});
        i = k;
        continue;
      }
      std::size_t d = i;
      while (d < text.size() && text[d] >= '0' && text[d] <= '9') ++d;
      if (d > i && (d == text.size() || !is_ident_cont(text[d]))) {
        out.push_back(Token{Token::kNumber, std::string(text.substr(i, d - i))});
        i = d;
        continue;
      }
    }
    if (is_ident_start(c)) {
      std::size_t j = i;
      while (j < text.size() && is_ident_cont(text[j])) ++j;
      out.push_back(Token{Token::kWord, std::string(text.substr(i, j - i))});
      i = j;
      continue;
    }
    if (c == ';' || c == '(' || c == ')' || c == ',' || c == '.') {
      out.push_back(Token{Token::kPunct, std::string(1, c)});
      ++i;
      continue;
    }
    return syntax(fmt::format("unexpected character {} in command",
                              quote_for_message(text.substr(i, 1))));
  }
  if (!out.empty() && out.back().kind == Token::kPunct && out.back().text == ";") out.pop_back();
  return out;
}

// The keywords that make a string a replication command (repl_scanner.l).
constexpr std::array<std::string_view, 8> kCommandKeywords = {
    "IDENTIFY_SYSTEM",         "SHOW",           "TIMELINE_HISTORY", "READ_REPLICATION_SLOT",
    "START_REPLICATION",       "BASE_BACKUP",    "CREATE_REPLICATION_SLOT",
    "DROP_REPLICATION_SLOT"};

class Parser {
 public:
  Parser(std::string_view command, std::vector<Token> tokens)
      : command_(command), tokens_(std::move(tokens)) {}

  bool at_end() const { return pos_ == tokens_.size(); }
  const Token* peek() const { return at_end() ? nullptr : &tokens_[pos_]; }
  bool peek_word(std::string_view keyword) const {
    const Token* t = peek();
    return t != nullptr && t->kind == Token::kWord && t->text == keyword;
  }
  bool accept_word(std::string_view keyword) {
    if (!peek_word(keyword)) return false;
    ++pos_;
    return true;
  }
  bool accept_punct(char c) {
    const Token* t = peek();
    if (t == nullptr || t->kind != Token::kPunct || t->text[0] != c) return false;
    ++pos_;
    return true;
  }
  std::string near() const {
    return at_end() ? std::string("end of input") : quote_for_message(tokens_[pos_].text);
  }
  base::Unexpected error(std::string_view expected) const {
    return syntax(fmt::format("syntax error in {} at {}: {} expected", command_, near(), expected));
  }
  base::Status expect_end() const {
    if (at_end()) return base::Ok{};
    return error("end of command");
  }

  // An identifier: a word (lower-cased) or a quoted identifier (verbatim).
  base::Result<std::string> ident(std::string_view what) {
    const Token* t = peek();
    if (t == nullptr || (t->kind != Token::kWord && t->kind != Token::kQuoted)) return error(what);
    ++pos_;
    if (t->kind == Token::kQuoted) return t->text;
    std::string s = t->text;
    for (char& c : s) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
  }

  base::Result<std::string> slot_name() {
    auto name = ident("a replication slot name");
    if (!name) return name;
    if (name->size() > kSlotNameBytesMax) {
      return syntax(fmt::format("replication slot name {} is too long: at most {} characters",
                                quote_for_message(*name), kSlotNameBytesMax));
    }
    for (char c : *name) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
        return syntax(fmt::format(
            "replication slot name {} contains invalid character: only lower case letters, "
            "numbers and the underscore character are allowed",
            quote_for_message(*name)));
      }
    }
    return name;
  }

  base::Result<std::uint32_t> timeline_number() {
    const Token* t = peek();
    if (t == nullptr || t->kind != Token::kNumber) return error("a timeline number");
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(t->text.data(), t->text.data() + t->text.size(), v);
    if (ec != std::errc{} || end != t->text.data() + t->text.size()) {
      return syntax(fmt::format("timeline {} out of range in {}", t->text, command_));
    }
    if (v == 0) return syntax(fmt::format("invalid timeline 0 in {}", command_));
    ++pos_;
    return v;
  }

  base::Result<wal::Lsn> lsn() {
    const Token* t = peek();
    if (t == nullptr || t->kind != Token::kLsn) return error("a start position X/Y");
    auto v = wal::Lsn::parse(t->text);
    if (!v) return syntax(fmt::format("invalid start position in {}: {}", command_, v.error().message));
    ++pos_;
    return *v;
  }

  // '(' name [value] {',' name [value]} ')' (PG15 generic options). Only
  // reserve_wal is known; its value, if any, must be a boolean word.
  base::Result<bool> generic_options() {
    bool reserve = false;
    for (;;) {
      auto name = ident("an option name");
      if (!name) return base::Unexpected{name.error()};
      if (*name != "reserve_wal") {
        return syntax(fmt::format("unrecognized option {} in {}", quote_for_message(*name), command_));
      }
      reserve = true;
      const Token* t = peek();
      if (t != nullptr && (t->kind == Token::kWord || t->kind == Token::kNumber)) {
        std::string v = t->text;
        for (char& c : v) {
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        if (v == "true" || v == "on" || v == "1") {
          reserve = true;
        } else if (v == "false" || v == "off" || v == "0") {
          reserve = false;
        } else {
          return error("a boolean value for reserve_wal");
        }
        ++pos_;
      }
      if (accept_punct(')')) return reserve;
      if (!accept_punct(',')) return error("',' or ')'");
    }
  }

 private:
  std::string_view command_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

}  // namespace

base::Result<Command> parse_command(std::string_view text) {
  auto tokens = tokenize(text);
  auto not_replication = [&] {
    return unsupported(fmt::format(
        "cannot execute SQL commands in WAL sender for physical replication (got {}; replication "
        "commands are upper case: IDENTIFY_SYSTEM, SHOW, TIMELINE_HISTORY, READ_REPLICATION_SLOT, "
        "START_REPLICATION, CREATE_REPLICATION_SLOT, DROP_REPLICATION_SLOT)",
        quote_for_message(text)));
  };
  std::string_view rest = text;
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  std::string_view first_word = rest.substr(0, rest.find_first_of(" \t\r\n\f;("));
  if (first_word == "BASE_BACKUP") {
    return unsupported("BASE_BACKUP is not supported by this server: it serves WAL streaming only");
  }
  if (!tokens) {
    // Unscannable text that does not even start like a replication command is SQL.
    bool starts_with_keyword = false;
    for (std::string_view k : kCommandKeywords) starts_with_keyword = starts_with_keyword || first_word == k;
    if (!starts_with_keyword) return not_replication();
    return base::Unexpected{tokens.error()};
  }
  if (tokens->empty() || (*tokens)[0].kind != Token::kWord) return not_replication();
  std::string keyword = (*tokens)[0].text;
  bool known = false;
  for (std::string_view k : kCommandKeywords) known = known || keyword == k;
  if (!known) return not_replication();

  Parser p(keyword, std::move(*tokens));
  (void)p.accept_word(keyword);
  if (keyword == "IDENTIFY_SYSTEM") {
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{IdentifySystem{}};
  }
  if (keyword == "SHOW") {
    auto name = p.ident("a parameter name");
    if (!name) return base::Unexpected{name.error()};
    while (p.accept_punct('.')) {  // var_name: ident ['.' ident]...
      auto part = p.ident("a parameter name after '.'");
      if (!part) return base::Unexpected{part.error()};
      *name += "." + *part;
    }
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{Show{std::move(*name)}};
  }
  if (keyword == "TIMELINE_HISTORY") {
    auto tli = p.timeline_number();
    if (!tli) return base::Unexpected{tli.error()};
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{TimelineHistory{*tli}};
  }
  if (keyword == "READ_REPLICATION_SLOT") {
    auto slot = p.slot_name();
    if (!slot) return base::Unexpected{slot.error()};
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{ReadReplicationSlot{std::move(*slot)}};
  }
  if (keyword == "START_REPLICATION") {
    StartReplication cmd;
    if (p.accept_word("SLOT")) {
      auto slot = p.slot_name();
      if (!slot) return base::Unexpected{slot.error()};
      cmd.slot = std::move(*slot);
    }
    if (p.peek_word("LOGICAL")) {
      return unsupported("logical replication is not supported by this server: "
                         "START_REPLICATION [SLOT name] [PHYSICAL] X/Y [TIMELINE n] streams WAL");
    }
    (void)p.accept_word("PHYSICAL");
    auto start = p.lsn();
    if (!start) return base::Unexpected{start.error()};
    cmd.start = *start;
    if (p.accept_word("TIMELINE")) {
      auto tli = p.timeline_number();
      if (!tli) return base::Unexpected{tli.error()};
      cmd.tli = *tli;
    }
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{std::move(cmd)};
  }
  if (keyword == "CREATE_REPLICATION_SLOT") {
    CreateReplicationSlot cmd;
    auto slot = p.slot_name();
    if (!slot) return base::Unexpected{slot.error()};
    cmd.slot = std::move(*slot);
    cmd.temporary = p.accept_word("TEMPORARY");
    if (p.peek_word("LOGICAL")) {
      return unsupported("logical replication slots are not supported by this server");
    }
    if (!p.accept_word("PHYSICAL")) return p.error("PHYSICAL");
    if (p.accept_punct('(')) {
      auto reserve = p.generic_options();
      if (!reserve) return base::Unexpected{reserve.error()};
      cmd.reserve_wal = *reserve;
    } else if (p.accept_word("RESERVE_WAL")) {
      cmd.reserve_wal = true;
    }
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{std::move(cmd)};
  }
  if (keyword == "DROP_REPLICATION_SLOT") {
    DropReplicationSlot cmd;
    auto slot = p.slot_name();
    if (!slot) return base::Unexpected{slot.error()};
    cmd.slot = std::move(*slot);
    cmd.wait = p.accept_word("WAIT");
    if (auto st = p.expect_end(); !st) return base::Unexpected{st.error()};
    return Command{std::move(cmd)};
  }
  return unsupported(fmt::format("{} is not supported by this server: it serves WAL streaming only",
                                 keyword));
}

const char* command_error_sqlstate(const base::Error& error) {
  if (error.code == base::ErrorCode::kUnsupported) return "0A000";  // feature_not_supported
  if (error.message.find("replication slot name") != std::string::npos) return "42602";
  return "42601";  // syntax_error
}

}  // namespace wq::pgwire
