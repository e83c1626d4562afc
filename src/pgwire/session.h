// Session: one learner connection of the PostgreSQL physical-replication
// protocol as a pure state machine (reference §3, §7.13). It takes the bytes
// the client sent, the host's answers and the time, and returns the bytes to
// send and the requests for the host (open the timeline, read committed WAL,
// wait for the commit LSN to move, record the learner's confirmed position).
// No sockets, clocks or threads: the Asio adaptor (server.h), the unit tests
// and the fuzz target drive the same code. Part of src/pgwire's pure layer.
//
// Phases: startup (SSLRequest/GSSENCRequest answered 'N', then the
// StartupMessage, which must say replication=true and name the timeline in
// options='-c tenant_id=<hex> -c timeline_id=<hex>') -> opening (waiting for
// the host) -> commands -> streaming (CopyBoth) -> commands ... -> closed.
//
// Safety: XLogData never carries a byte at or beyond the commit LSN the host
// last reported; the learner's reported positions are clamped to it before
// they reach the host.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"
#include "pgwire/command.h"
#include "pgwire/messages.h"
#include "wal/lsn.h"

namespace wq::pgwire {

inline constexpr std::int64_t kMicrosPerSecond = 1'000'000;

// What the connection asked for in its startup packet's options.
struct TimelineRef {
  std::string tenant_id;    // 32 lower-case hex digits
  std::string timeline_id;  // 32 lower-case hex digits
};

// The host's description of the timeline a connection streams.
struct TimelineInfo {
  std::uint64_t system_id = 0;
  std::uint64_t wal_seg_size = 16 * 1024 * 1024;
  std::uint32_t tli = 1;
  Lsn commit_lsn;  // WAL below this is committed, held by the host, and may be streamed
  // Content of "%08X.history" for `tli` when tli > 1; empty: no history file.
  std::string history;
};

// Parses the `options` startup value: whitespace-separated "-c name=value",
// "-cname=value" or "--name=value" settings (backslash escapes the next
// character, as libpq's PGOPTIONS). tenant_id and timeline_id must both be
// there, 32 hex digits each; other settings are ignored. kInvalidArgument with
// a one-line message saying how to name the timeline otherwise.
base::Result<TimelineRef> parse_timeline_options(std::string_view options);

struct SessionOptions {
  // ParameterStatus server_version: libpq derives PQserverVersion() from it
  // (150000 here), and pg_receivewal 15 refuses anything but 9.3..15.
  std::string server_version = "15.0 (walquorum)";
  std::uint32_t backend_pid = 0;  // BackendKeyData; cancel requests are never honoured
  std::uint32_t secret_key = 0;
  // While streaming: a keepalive with reply requested after this much time
  // without one, and the connection closes after receive_timeout_us without
  // any message from the client (PostgreSQL: wal_sender_timeout).
  std::int64_t keepalive_interval_us = 10 * kMicrosPerSecond;
  std::int64_t receive_timeout_us = 60 * kMicrosPerSecond;
  // Startup and authentication must finish within this (authentication_timeout).
  std::int64_t startup_timeout_us = 60 * kMicrosPerSecond;
  // Largest WAL payload of one XLogData message (PostgreSQL's MAX_SEND_SIZE);
  // cut at a page boundary when more is pending. A multiple of 8192.
  std::uint64_t send_bytes_max = 128 * 1024;
  // Bytes the client may send ahead of our answers before it is cut off.
  std::size_t input_bytes_max = 1024 * 1024;
};

// ---- Requests for the host ----

// Look up the timeline; answer with Session::on_opened.
struct OpenTimeline {
  TimelineRef ref;
  std::string user;
  std::string application_name;
};
// Read committed WAL [from, to) (to <= the commit LSN reported to the
// session); answer with Session::on_wal(stream, from, bytes). Fewer bytes than
// asked are fine (at least one); the session asks again for the rest.
struct ReadWal {
  std::uint64_t stream = 0;  // identifies the START_REPLICATION this read belongs to
  Lsn from;
  Lsn to;
};
// The session has sent everything committed: call on_commit_lsn once the
// commit LSN passes `after`.
struct WaitCommit {
  Lsn after;
};
// The learner's positions from a standby status update, each clamped to the
// commit LSN; 0 where the learner sent 0 (unknown). `slot` as named in
// START_REPLICATION. The flush position is what WAL removal may honour.
struct LearnerFeedback {
  std::optional<std::string> slot;
  Lsn write;
  Lsn flush;
  Lsn apply;
};
struct StandbyFeedback {
  HotStandbyFeedback feedback;
};
// READ_REPLICATION_SLOT: answer with Session::on_slot.
struct ReadSlot {
  std::string slot;
};
// DROP_REPLICATION_SLOT: the host forgets what it kept for the slot.
struct DropSlot {
  std::string slot;
};
using Request = std::variant<OpenTimeline, ReadWal, WaitCommit, LearnerFeedback, StandbyFeedback,
                             ReadSlot, DropSlot>;

struct Output {
  std::vector<std::uint8_t> bytes;  // to send, in order
  std::vector<Request> requests;    // to execute, in order
  bool close = false;               // close after sending `bytes`
  std::string close_reason;         // for the log
};

class Session {
 public:
  enum class Phase { kStartup, kOpening, kCommands, kAwaitingSlot, kStreaming, kClosed };

  explicit Session(SessionOptions options);

  // Every input takes the time in microseconds since 2000-01-01 00:00 UTC (the
  // protocol's epoch): it is what sendTime fields carry and what timeouts use.

  // Bytes received from the client.
  Output on_bytes(std::span<const std::uint8_t> bytes, std::int64_t now_us);
  // The client closed its side.
  Output on_eof(std::int64_t now_us);
  // Answer to OpenTimeline. An error is told to the client (kNotFound: no such
  // timeline) and the connection closes.
  Output on_opened(base::Result<TimelineInfo> info, std::int64_t now_us);
  // The host's current commit LSN (any time; it never moves backwards).
  Output on_commit_lsn(Lsn commit_lsn, std::int64_t now_us);
  // Answer to ReadWal. kNotFound: the WAL was removed (58P01); kCorrupt: the
  // host's copy failed verification (XX001); other errors XX000. Each ends the
  // stream with ErrorResponse and ReadyForQuery.
  Output on_wal(std::uint64_t stream, Lsn from, base::Result<std::vector<std::uint8_t>> bytes,
                std::int64_t now_us);
  // Answer to ReadSlot: the slot's restart position if the host knows one.
  Output on_slot(std::optional<Lsn> restart_lsn, std::int64_t now_us);
  // Time passes: keepalives and timeouts.
  Output on_tick(std::int64_t now_us);
  // The server is stopping: a streaming client gets CommandComplete "COPY 0"
  // (what PostgreSQL sends at shutdown; clients report "replication
  // terminated by primary server" and reconnect), any other a FATAL 57P01.
  // The connection closes after these bytes.
  Output on_shutdown(std::int64_t now_us);

  Phase phase() const { return phase_; }
  // Next LSN to send while streaming (the end of what was sent or asked for).
  Lsn sent_lsn() const { return sent_; }
  Lsn commit_lsn() const { return commit_; }
  bool read_in_flight() const { return read_in_flight_; }
  const std::optional<TimelineRef>& timeline() const { return ref_; }
  const std::string& application_name() const { return application_name_; }
  // Checks the invariants (WQ_ASSERT); the fuzz target calls it after each input.
  void check_invariants() const;

 private:
  Output take();
  void process();
  void handle_startup(std::vector<std::uint8_t> packet);
  void handle_message(MessageReader::Raw raw);
  void handle_query(const std::string& text);
  void handle_copy(FrontendMessage msg);
  void run(const Command& cmd);
  void start_replication(const StartReplication& cmd);
  void pump();
  void end_stream_by_client();
  void error(std::string sqlstate, std::string message, std::string hint = {});
  void fatal(std::string sqlstate, std::string message, std::string hint = {});
  void close(std::string reason);
  void send_rows(std::span<const Column> columns,
                 std::span<const std::optional<std::string>> values, std::string_view tag);

  SessionOptions options_;
  Phase phase_ = Phase::kStartup;
  MessageReader reader_;
  Output out_;
  std::int64_t now_us_ = 0;
  std::int64_t started_us_ = -1;  // time of the first input
  bool ssl_answered_ = false;
  bool gss_answered_ = false;

  std::optional<TimelineRef> ref_;
  std::string application_name_;
  TimelineInfo info_;
  Lsn commit_;  // highest commit LSN reported; never decreases

  // Streaming state.
  std::uint64_t stream_ = 0;  // counts START_REPLICATIONs; tags reads
  std::optional<std::string> slot_;
  Lsn sent_;                  // next byte to send (reads in flight included)
  bool read_in_flight_ = false;
  Lsn read_from_;
  Lsn read_to_;
  bool waiting_commit_ = false;
  std::int64_t last_received_us_ = 0;
  std::int64_t last_keepalive_us_ = 0;
};

}  // namespace wq::pgwire
