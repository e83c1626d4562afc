// Protocol v3 message decoding and encoding (see messages.h).
#include "pgwire/messages.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "base/assert.h"

namespace wq::pgwire {

namespace {

base::Unexpected malformed(std::string message) {
  return base::Unexpected{base::ErrorCode::kMalformedMessage, std::move(message)};
}

std::uint32_t get_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::uint64_t get_u64(const std::uint8_t* p) {
  return (std::uint64_t{get_u32(p)} << 32) | get_u32(p + 4);
}

void put_u8(std::vector<std::uint8_t>& out, std::uint8_t v) { out.push_back(v); }
void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  put_u32(out, static_cast<std::uint32_t>(v >> 32));
  put_u32(out, static_cast<std::uint32_t>(v));
}
void put_cstring(std::vector<std::uint8_t>& out, std::string_view s) {
  WQ_ASSERT(s.find('\0') == std::string_view::npos, "string for the wire holds a NUL byte");
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
}

// Starts a typed backend message; finish() fills in its length.
std::size_t begin_message(std::vector<std::uint8_t>& out, char type) {
  out.push_back(static_cast<std::uint8_t>(type));
  std::size_t at = out.size();
  put_u32(out, 0);
  return at;
}
void finish_message(std::vector<std::uint8_t>& out, std::size_t at) {
  std::size_t len = out.size() - at;
  WQ_ASSERT(len <= 0x7FFFFFFF, "backend message of {} bytes", len);
  for (int i = 0; i < 4; ++i) {
    out[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
  }
}

// Printable form of a message type byte for error messages.
std::string type_name(char type) {
  auto c = static_cast<unsigned char>(type);
  if (std::isprint(c)) return fmt::format("'{}'", type);
  return fmt::format("0x{:02x}", c);
}

// Reads a NUL-terminated string at *pos; advances past the NUL.
std::optional<std::string> get_cstring(std::span<const std::uint8_t> bytes, std::size_t* pos) {
  auto begin = bytes.begin() + static_cast<std::ptrdiff_t>(*pos);
  auto nul = std::find(begin, bytes.end(), std::uint8_t{0});
  if (nul == bytes.end()) return std::nullopt;
  std::string s(begin, nul);
  *pos = static_cast<std::size_t>(nul - bytes.begin()) + 1;
  return s;
}

}  // namespace

const std::string* StartupMessage::find(std::string_view key) const {
  for (const auto& [k, v] : params) {
    if (k == key) return &v;
  }
  return nullptr;
}

base::Result<StartupPacket> decode_startup_packet(std::span<const std::uint8_t> packet) {
  if (packet.size() < 8) {
    return malformed(fmt::format("startup packet of {} bytes: at least 8 expected", packet.size()));
  }
  std::uint32_t len = get_u32(packet.data());
  if (len != packet.size()) {
    return malformed(
        fmt::format("startup packet length field says {} bytes but {} arrived", len, packet.size()));
  }
  if (len > kStartupBytesMax) {
    return malformed(fmt::format("startup packet of {} bytes: at most {} allowed", len,
                                 kStartupBytesMax));
  }
  std::uint32_t code = get_u32(packet.data() + 4);
  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    if (len != 8) {
      return malformed(fmt::format("{} of {} bytes: exactly 8 expected",
                                   code == kSslRequestCode ? "SSLRequest" : "GSSENCRequest", len));
    }
    if (code == kSslRequestCode) return StartupPacket{SslRequest{}};
    return StartupPacket{GssEncRequest{}};
  }
  if (code == kCancelRequestCode) {
    if (len != 16) return malformed(fmt::format("CancelRequest of {} bytes: exactly 16 expected", len));
    return StartupPacket{CancelRequest{get_u32(packet.data() + 8), get_u32(packet.data() + 12)}};
  }
  if ((code >> 16) != 3) {
    return malformed(fmt::format("unsupported frontend protocol {}.{}: this server supports 3.0",
                                 code >> 16, code & 0xFFFF));
  }
  StartupMessage msg;
  msg.protocol = code;
  std::size_t pos = 8;
  for (;;) {
    if (pos >= packet.size()) {
      return malformed("startup packet ends without its final NUL byte");
    }
    if (packet[pos] == 0) {
      if (pos + 1 != packet.size()) {
        return malformed(fmt::format("startup packet has {} bytes after its final NUL byte",
                                     packet.size() - pos - 1));
      }
      break;
    }
    auto key = get_cstring(packet, &pos);
    if (!key) return malformed("startup packet parameter name lacks its NUL terminator");
    if (pos >= packet.size()) {
      return malformed(fmt::format("startup packet parameter \"{}\" has no value", *key));
    }
    auto value = get_cstring(packet, &pos);
    if (!value) {
      return malformed(
          fmt::format("startup packet value of parameter \"{}\" lacks its NUL terminator", *key));
    }
    if (msg.find(*key) != nullptr) {
      return malformed(fmt::format("startup packet names parameter \"{}\" twice", *key));
    }
    if (msg.params.size() == kStartupParamsMax) {
      return malformed(fmt::format("startup packet has more than {} parameters", kStartupParamsMax));
    }
    msg.params.emplace_back(std::move(*key), std::move(*value));
  }
  return StartupPacket{std::move(msg)};
}

base::Result<FrontendMessage> decode_frontend_message(char type,
                                                      std::span<const std::uint8_t> body) {
  auto one_string = [&](const char* what) -> base::Result<std::string> {
    std::size_t pos = 0;
    auto s = get_cstring(body, &pos);
    if (!s) return malformed(fmt::format("{} message lacks the NUL terminator of its text", what));
    if (pos != body.size()) {
      return malformed(fmt::format("{} message has {} bytes after the NUL terminator of its text",
                                   what, body.size() - pos));
    }
    return std::move(*s);
  };
  auto empty = [&](const char* what, FrontendMessage m) -> base::Result<FrontendMessage> {
    if (!body.empty()) {
      return malformed(fmt::format("{} message has a {}-byte body: it has none", what, body.size()));
    }
    return m;
  };
  switch (type) {
    case 'Q': {
      auto s = one_string("Query");
      if (!s) return base::Unexpected{s.error()};
      return FrontendMessage{Query{std::move(*s)}};
    }
    case 'd':
      return FrontendMessage{CopyData{std::vector<std::uint8_t>(body.begin(), body.end())}};
    case 'c':
      return empty("CopyDone", CopyDone{});
    case 'f': {
      auto s = one_string("CopyFail");
      if (!s) return base::Unexpected{s.error()};
      return FrontendMessage{CopyFail{std::move(*s)}};
    }
    case 'X':
      return empty("Terminate", Terminate{});
    default:
      return FrontendMessage{OtherMessage{type}};
  }
}

base::Result<CopyMessage> decode_copy_message(std::span<const std::uint8_t> payload) {
  if (payload.empty()) return malformed("empty CopyData message from the client");
  const std::uint8_t* p = payload.data();
  switch (payload[0]) {
    case 'r': {
      if (payload.size() != kStandbyStatusBytes) {
        return malformed(fmt::format("standby status update ('r') of {} bytes: {} expected",
                                     payload.size(), kStandbyStatusBytes));
      }
      StandbyStatusUpdate u;
      u.write = Lsn(get_u64(p + 1));
      u.flush = Lsn(get_u64(p + 9));
      u.apply = Lsn(get_u64(p + 17));
      u.send_time_us = static_cast<std::int64_t>(get_u64(p + 25));
      u.reply_requested = p[33] != 0;
      return CopyMessage{u};
    }
    case 'h': {
      if (payload.size() != kHotStandbyFeedbackBytes) {
        return malformed(fmt::format("hot standby feedback ('h') of {} bytes: {} expected",
                                     payload.size(), kHotStandbyFeedbackBytes));
      }
      HotStandbyFeedback h;
      h.send_time_us = static_cast<std::int64_t>(get_u64(p + 1));
      h.xmin = get_u32(p + 9);
      h.xmin_epoch = get_u32(p + 13);
      h.catalog_xmin = get_u32(p + 17);
      h.catalog_xmin_epoch = get_u32(p + 21);
      return CopyMessage{h};
    }
    default:
      return malformed(fmt::format(
          "unexpected CopyData subtype {} from the client: 'r' (standby status update) or 'h' "
          "(hot standby feedback) expected",
          type_name(static_cast<char>(payload[0]))));
  }
}

// ---- MessageReader ----

void MessageReader::feed(std::span<const std::uint8_t> bytes) {
  compact();
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

void MessageReader::compact() {
  // Drop consumed bytes once they are at least half the buffer: amortised O(1).
  if (pos_ > 0 && pos_ * 2 >= buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
}

base::Result<std::optional<std::vector<std::uint8_t>>> MessageReader::next_startup() {
  if (buffered() < 4) return std::optional<std::vector<std::uint8_t>>{};
  std::uint32_t len = get_u32(buf_.data() + pos_);
  if (len < 8 || len > kStartupBytesMax) {
    return malformed(fmt::format("invalid length of startup packet: {} bytes (8..{} expected)", len,
                                 kStartupBytesMax));
  }
  if (buffered() < len) return std::optional<std::vector<std::uint8_t>>{};
  auto begin = buf_.begin() + static_cast<std::ptrdiff_t>(pos_);
  std::vector<std::uint8_t> packet(begin, begin + len);
  pos_ += len;
  return std::optional<std::vector<std::uint8_t>>{std::move(packet)};
}

base::Result<std::optional<MessageReader::Raw>> MessageReader::next_message() {
  if (buffered() < 5) return std::optional<Raw>{};
  char type = static_cast<char>(buf_[pos_]);
  std::uint32_t len = get_u32(buf_.data() + pos_ + 1);
  if (len < 4 || len > kMessageBytesMax) {
    return malformed(fmt::format("message of type {} has invalid length {} (4..{} expected)",
                                 type_name(type), len, kMessageBytesMax));
  }
  if (buffered() < std::size_t{len} + 1) return std::optional<Raw>{};
  auto begin = buf_.begin() + static_cast<std::ptrdiff_t>(pos_ + 5);
  Raw raw{type, std::vector<std::uint8_t>(begin, begin + (len - 4))};
  pos_ += std::size_t{len} + 1;
  return std::optional<Raw>{std::move(raw)};
}

// ---- Encoders ----

void encode_refuse_encryption(std::vector<std::uint8_t>& out) { out.push_back('N'); }

void encode_authentication_ok(std::vector<std::uint8_t>& out) {
  std::size_t at = begin_message(out, 'R');
  put_u32(out, 0);
  finish_message(out, at);
}

void encode_parameter_status(std::vector<std::uint8_t>& out, std::string_view name,
                             std::string_view value) {
  std::size_t at = begin_message(out, 'S');
  put_cstring(out, name);
  put_cstring(out, value);
  finish_message(out, at);
}

void encode_backend_key_data(std::vector<std::uint8_t>& out, std::uint32_t pid,
                             std::uint32_t secret) {
  std::size_t at = begin_message(out, 'K');
  put_u32(out, pid);
  put_u32(out, secret);
  finish_message(out, at);
}

void encode_ready_for_query(std::vector<std::uint8_t>& out) {
  std::size_t at = begin_message(out, 'Z');
  put_u8(out, 'I');
  finish_message(out, at);
}

void encode_row_description(std::vector<std::uint8_t>& out, std::span<const Column> columns) {
  WQ_ASSERT(columns.size() <= 1600, "{} columns", columns.size());
  std::size_t at = begin_message(out, 'T');
  put_u16(out, static_cast<std::uint16_t>(columns.size()));
  for (const Column& c : columns) {
    put_cstring(out, c.name);
    put_u32(out, 0);  // table OID
    put_u16(out, 0);  // attribute number
    put_u32(out, c.type_oid);
    put_u16(out, static_cast<std::uint16_t>(c.typlen));
    put_u32(out, static_cast<std::uint32_t>(c.typmod));
    put_u16(out, 0);  // text format
  }
  finish_message(out, at);
}

void encode_data_row(std::vector<std::uint8_t>& out,
                     std::span<const std::optional<std::string>> values) {
  WQ_ASSERT(values.size() <= 1600, "{} columns", values.size());
  std::size_t at = begin_message(out, 'D');
  put_u16(out, static_cast<std::uint16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      put_u32(out, 0xFFFFFFFFu);  // -1: NULL
      continue;
    }
    WQ_ASSERT(v->size() < 0x7FFFFFFF, "column of {} bytes", v->size());
    put_u32(out, static_cast<std::uint32_t>(v->size()));
    out.insert(out.end(), v->begin(), v->end());
  }
  finish_message(out, at);
}

void encode_command_complete(std::vector<std::uint8_t>& out, std::string_view tag) {
  std::size_t at = begin_message(out, 'C');
  put_cstring(out, tag);
  finish_message(out, at);
}

void encode_error_response(std::vector<std::uint8_t>& out, const ErrorFields& error) {
  WQ_ASSERT(error.sqlstate.size() == 5, "SQLSTATE \"{}\" is not 5 characters", error.sqlstate);
  const char* severity = error.severity == Severity::kFatal ? "FATAL" : "ERROR";
  std::size_t at = begin_message(out, 'E');
  put_u8(out, 'S');
  put_cstring(out, severity);
  put_u8(out, 'V');
  put_cstring(out, severity);
  put_u8(out, 'C');
  put_cstring(out, error.sqlstate);
  put_u8(out, 'M');
  put_cstring(out, error.message);
  if (!error.detail.empty()) {
    put_u8(out, 'D');
    put_cstring(out, error.detail);
  }
  if (!error.hint.empty()) {
    put_u8(out, 'H');
    put_cstring(out, error.hint);
  }
  put_u8(out, 0);
  finish_message(out, at);
}

void encode_copy_both_response(std::vector<std::uint8_t>& out) {
  std::size_t at = begin_message(out, 'W');
  put_u8(out, 0);   // overall format: text
  put_u16(out, 0);  // no columns
  finish_message(out, at);
}

void encode_copy_done(std::vector<std::uint8_t>& out) {
  std::size_t at = begin_message(out, 'c');
  finish_message(out, at);
}

void encode_xlog_data(std::vector<std::uint8_t>& out, Lsn data_start, Lsn wal_end,
                      std::int64_t send_time_us, std::span<const std::uint8_t> wal) {
  WQ_ASSERT(wal.size() <= 0x7FFFFFFF - 4 - kXLogDataHeaderBytes, "XLogData of {} bytes",
            wal.size());  // the int32 length field
  std::size_t at = begin_message(out, 'd');
  put_u8(out, 'w');
  put_u64(out, data_start.value());
  put_u64(out, wal_end.value());
  put_u64(out, static_cast<std::uint64_t>(send_time_us));
  out.insert(out.end(), wal.begin(), wal.end());
  finish_message(out, at);
}

void encode_keepalive(std::vector<std::uint8_t>& out, Lsn wal_end, std::int64_t send_time_us,
                      bool reply_requested) {
  std::size_t at = begin_message(out, 'd');
  put_u8(out, 'k');
  put_u64(out, wal_end.value());
  put_u64(out, static_cast<std::uint64_t>(send_time_us));
  put_u8(out, reply_requested ? 1 : 0);
  finish_message(out, at);
}

}  // namespace wq::pgwire
