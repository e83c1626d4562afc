// The PostgreSQL frontend/backend protocol (version 3.0) as far as a physical
// replication server needs it: the startup packets a client may open with,
// the frontend messages of a replication connection, the CopyBoth payloads
// exchanged while streaming, and encoders for every backend message we send
// (reference §3.1-§3.7). All integers on the wire are big-endian. Part of
// src/pgwire's pure layer: no sockets, clocks or files; every decoder has a
// length bound and names what was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.h"
#include "wal/lsn.h"

namespace wq::pgwire {

using wal::Lsn;

inline constexpr std::uint32_t kProtocolVersion3 = 3u << 16;      // 196608
inline constexpr std::uint32_t kCancelRequestCode = 80877102;     // 1234 << 16 | 5678
inline constexpr std::uint32_t kSslRequestCode = 80877103;        // 1234 << 16 | 5679
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;     // 1234 << 16 | 5680
// A startup packet longer than this is refused, as PostgreSQL's
// MAX_STARTUP_PACKET_LENGTH; the length counts its own 4 bytes.
inline constexpr std::size_t kStartupBytesMax = 10000;
// The largest frontend message we accept after startup, length field included.
// Replication clients send short commands and 25- or 34-byte CopyData.
inline constexpr std::size_t kMessageBytesMax = 64 * 1024;
// Key/value pairs in one startup packet (PostgreSQL has no bound; 10000 bytes
// cannot hold more than 5000 anyway, this keeps the count explicit).
inline constexpr std::size_t kStartupParamsMax = 64;

// ---- Startup phase (no type byte: int32 length, int32 code, body) ----

struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  std::uint32_t pid = 0;
  std::uint32_t key = 0;
};
struct StartupMessage {
  std::uint32_t protocol = kProtocolVersion3;
  std::vector<std::pair<std::string, std::string>> params;  // in packet order
  // The value of the first pair named `key`, or null.
  const std::string* find(std::string_view key) const;
};
using StartupPacket = std::variant<SslRequest, GssEncRequest, CancelRequest, StartupMessage>;

// Decodes one whole startup packet, its length field included. kMalformedMessage
// naming the problem: a length that disagrees with the bytes, a protocol other
// than 3.x, a missing terminator, a duplicate key, too many pairs.
base::Result<StartupPacket> decode_startup_packet(std::span<const std::uint8_t> packet);

// ---- Frontend messages after startup (type byte, int32 length, body) ----

struct Query {
  std::string text;
};
struct CopyData {
  std::vector<std::uint8_t> payload;
};
struct CopyDone {};
struct CopyFail {
  std::string message;
};
struct Terminate {};
// Well framed, but not a message a replication connection uses (Parse, Bind,
// Sync, PasswordMessage, ...). The session answers it with an error.
struct OtherMessage {
  char type = 0;
};
using FrontendMessage = std::variant<Query, CopyData, CopyDone, CopyFail, Terminate, OtherMessage>;

// Decodes the body of a message of `type` (length field and type byte removed).
// kMalformedMessage for a string without its terminator, bytes after it, or a
// body on a message that has none.
base::Result<FrontendMessage> decode_frontend_message(char type,
                                                      std::span<const std::uint8_t> body);

// ---- CopyBoth payloads from the client (inside 'd') ----

inline constexpr std::size_t kStandbyStatusBytes = 34;
inline constexpr std::size_t kHotStandbyFeedbackBytes = 25;

// 'r': the client's positions. 0 means unknown (pg_receivewal sends flush 0
// without --slot or --synchronous, and apply 0 always).
struct StandbyStatusUpdate {
  Lsn write;
  Lsn flush;
  Lsn apply;
  std::int64_t send_time_us = 0;  // microseconds since 2000-01-01 00:00 UTC
  bool reply_requested = false;
};
// 'h': the standby's oldest running transaction ids; accepted, not acted on.
struct HotStandbyFeedback {
  std::int64_t send_time_us = 0;
  std::uint32_t xmin = 0;
  std::uint32_t xmin_epoch = 0;
  std::uint32_t catalog_xmin = 0;
  std::uint32_t catalog_xmin_epoch = 0;
};
using CopyMessage = std::variant<StandbyStatusUpdate, HotStandbyFeedback>;

// Decodes a client CopyData payload. kMalformedMessage for an empty payload, an
// unknown subtype or a length other than 34 ('r') or 25 ('h').
base::Result<CopyMessage> decode_copy_message(std::span<const std::uint8_t> payload);

// ---- Splitting the client's byte stream ----

// Buffers the bytes read from a socket and hands out whole packets. Not a
// parser of their contents: the decoders above are.
class MessageReader {
 public:
  struct Raw {
    char type = 0;
    std::vector<std::uint8_t> body;  // without type byte and length
  };

  void feed(std::span<const std::uint8_t> bytes);
  // The next whole startup packet (length field included); nullopt until all of
  // it has arrived. kMalformedMessage when its length is below 8 or above
  // kStartupBytesMax (the stream cannot be resynchronised after that).
  base::Result<std::optional<std::vector<std::uint8_t>>> next_startup();
  // The next whole typed message; nullopt until all of it has arrived.
  // kMalformedMessage when its length is below 4 or above kMessageBytesMax.
  base::Result<std::optional<Raw>> next_message();
  // Bytes received and not yet handed out.
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  void compact();
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
};

// ---- Backend messages (appended to `out`) ----

// Type OIDs of the replication result sets (printsimple.c, walsender.c).
inline constexpr std::uint32_t kInt8Oid = 20;
inline constexpr std::uint32_t kInt4Oid = 23;
inline constexpr std::uint32_t kTextOid = 25;

struct Column {
  std::string name;
  std::uint32_t type_oid = kTextOid;
  std::int16_t typlen = -1;
  std::int32_t typmod = -1;
};
inline Column text_column(std::string name) { return Column{std::move(name), kTextOid, -1, -1}; }
inline Column int4_column(std::string name) { return Column{std::move(name), kInt4Oid, 4, -1}; }
inline Column int8_column(std::string name) { return Column{std::move(name), kInt8Oid, 8, -1}; }

enum class Severity { kError, kFatal };
struct ErrorFields {
  Severity severity = Severity::kError;
  std::string sqlstate = "XX000";  // five characters
  std::string message;
  std::string detail;  // optional
  std::string hint;    // optional
};

// The one-byte answer to SSLRequest and GSSENCRequest: 'N', not supported.
void encode_refuse_encryption(std::vector<std::uint8_t>& out);
void encode_authentication_ok(std::vector<std::uint8_t>& out);
void encode_parameter_status(std::vector<std::uint8_t>& out, std::string_view name,
                             std::string_view value);
void encode_backend_key_data(std::vector<std::uint8_t>& out, std::uint32_t pid,
                             std::uint32_t secret);
void encode_ready_for_query(std::vector<std::uint8_t>& out);  // status 'I' (idle)
void encode_row_description(std::vector<std::uint8_t>& out, std::span<const Column> columns);
// nullopt columns are SQL NULL (length -1).
void encode_data_row(std::vector<std::uint8_t>& out,
                     std::span<const std::optional<std::string>> values);
void encode_command_complete(std::vector<std::uint8_t>& out, std::string_view tag);
void encode_error_response(std::vector<std::uint8_t>& out, const ErrorFields& error);
void encode_copy_both_response(std::vector<std::uint8_t>& out);
void encode_copy_done(std::vector<std::uint8_t>& out);

inline constexpr std::size_t kXLogDataHeaderBytes = 25;  // 'w' + 3 x 8 bytes
inline constexpr std::size_t kKeepaliveBytes = 18;       // 'k' + 8 + 8 + 1
// CopyData 'w': WAL bytes starting at data_start; wal_end is the server's end of
// sendable WAL (for us the commit LSN), not the end of this message.
void encode_xlog_data(std::vector<std::uint8_t>& out, Lsn data_start, Lsn wal_end,
                      std::int64_t send_time_us, std::span<const std::uint8_t> wal);
// CopyData 'k' (exactly 18 bytes of payload, as the walreceiver insists).
void encode_keepalive(std::vector<std::uint8_t>& out, Lsn wal_end, std::int64_t send_time_us,
                      bool reply_requested);

}  // namespace wq::pgwire
