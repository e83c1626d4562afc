// The replication session state machine (see session.h).
#include "pgwire/session.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/overloaded.h"
#include "wal/format.h"

namespace wq::pgwire {

namespace {

constexpr std::string_view kOptionsHint =
    "connect with options='-c tenant_id=<32 hex digits> -c timeline_id=<32 hex digits>', e.g. "
    "pg_receivewal -d \"host=... port=... options='-c tenant_id=... -c timeline_id=...'\"";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// PostgreSQL's parse_bool: case-insensitive, unique prefixes of true/false/
// yes/no, "on"/"off" (at least "of"), "1"/"0".
std::optional<bool> parse_pg_bool(std::string_view text) {
  std::string v = lower(text);
  if (v.empty()) return std::nullopt;
  auto prefix_of = [&](std::string_view word) {
    return v.size() <= word.size() && word.substr(0, v.size()) == v;
  };
  if (prefix_of("true") || prefix_of("yes")) return true;
  if (prefix_of("false") || prefix_of("no")) return false;
  if (v == "on") return true;
  if (v.size() >= 2 && prefix_of("off")) return false;
  if (v == "1") return true;
  if (v == "0") return false;
  return std::nullopt;
}

std::string size_text(std::uint64_t bytes) {
  if (bytes % (1ull << 30) == 0) return fmt::format("{}GB", bytes >> 30);
  if (bytes % (1ull << 20) == 0) return fmt::format("{}MB", bytes >> 20);
  if (bytes % (1ull << 10) == 0) return fmt::format("{}kB", bytes >> 10);
  return fmt::format("{}B", bytes);
}

// "15.2 (anything)" -> "150002"; PostgreSQL >= 10 numbering.
std::string version_num(std::string_view version) {
  unsigned major = 0;
  unsigned minor = 0;
  const char* p = version.data();
  const char* end = p + version.size();
  auto r = std::from_chars(p, end, major);
  if (r.ec == std::errc{} && r.ptr < end && *r.ptr == '.') {
    (void)std::from_chars(r.ptr + 1, end, minor);
  }
  return fmt::format("{}", major * 10000 + minor);
}

}  // namespace

base::Result<TimelineRef> parse_timeline_options(std::string_view options) {
  auto bad = [](std::string message) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument, std::move(message)};
  };
  // Split like libpq's PGOPTIONS: whitespace separates, backslash escapes.
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < options.size(); ++i) {
    char c = options[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    if (c == '\\' && i + 1 < options.size()) c = options[++i];
    cur.push_back(c);
    in_word = true;
  }
  if (in_word) words.push_back(std::move(cur));

  std::optional<std::string> tenant;
  std::optional<std::string> timeline;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string setting;
    const std::string& w = words[i];
    if (w == "-c") {
      if (i + 1 == words.size()) return bad("startup options end with \"-c\" and no setting after it");
      setting = words[++i];
    } else if (w.size() > 2 && w.compare(0, 2, "-c") == 0) {
      setting = w.substr(2);
    } else if (w.size() > 2 && w.compare(0, 2, "--") == 0) {
      setting = w.substr(2);
    } else {
      return bad(fmt::format("unsupported startup option \"{}\": only -c name=value settings are "
                             "understood",
                             w));
    }
    std::size_t eq = setting.find('=');
    if (eq == std::string::npos) {
      return bad(fmt::format("startup option \"{}\" is not of the form name=value", setting));
    }
    std::string name = lower(setting.substr(0, eq));
    std::replace(name.begin(), name.end(), '-', '_');
    std::string value = setting.substr(eq + 1);
    if (name != "tenant_id" && name != "timeline_id") continue;  // other settings do not apply
    bool hex = value.size() == 32 && std::all_of(value.begin(), value.end(), [](char c) {
                 return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
               });
    if (!hex) {
      return bad(fmt::format("{} \"{}\" is not 32 hex digits", name,
                             value.size() > 64 ? value.substr(0, 64) + "..." : value));
    }
    (name == "tenant_id" ? tenant : timeline) = lower(value);
  }
  if (!tenant || !timeline) {
    return bad(fmt::format("the connection does not name its timeline: {} missing from the startup "
                           "options",
                           !tenant && !timeline ? "tenant_id and timeline_id"
                           : !tenant            ? "tenant_id"
                                                : "timeline_id"));
  }
  return TimelineRef{std::move(*tenant), std::move(*timeline)};
}

Session::Session(SessionOptions options) : options_(std::move(options)) {
  WQ_ASSERT(options_.send_bytes_max >= wal::kBlockSize &&
                options_.send_bytes_max % wal::kBlockSize == 0,
            "send_bytes_max {} is not a positive multiple of the WAL page size",
            options_.send_bytes_max);
  WQ_ASSERT(options_.keepalive_interval_us > 0 && options_.receive_timeout_us > 0 &&
                options_.startup_timeout_us > 0,
            "timeouts must be positive");
}

Output Session::take() {
  Output o = std::move(out_);
  out_ = Output{};
  return o;
}

void Session::check_invariants() const {
  if (phase_ == Phase::kStreaming) {
    // Nothing at or beyond the commit LSN is ever sent or asked for.
    WQ_ASSERT(sent_ <= commit_, "sent up to {} beyond commit {}", sent_, commit_);
    WQ_ASSERT(!read_in_flight_ || (read_from_ == sent_ && read_from_ < read_to_ &&
                                   read_to_ <= commit_),
              "read [{}, {}) in flight while sent up to {}, commit {}", read_from_, read_to_, sent_,
              commit_);
  }
  WQ_ASSERT(reader_.buffered() <= options_.input_bytes_max + kMessageBytesMax || phase_ == Phase::kClosed,
            "input buffer of {} bytes", reader_.buffered());
}

// ---- Inputs ----

Output Session::on_bytes(std::span<const std::uint8_t> bytes, std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (started_us_ < 0) started_us_ = now_us_;
  if (phase_ == Phase::kClosed) return take();
  reader_.feed(bytes);
  process();
  if (phase_ != Phase::kClosed && reader_.buffered() > options_.input_bytes_max) {
    fatal("54000", fmt::format("the client sent more than {} bytes that are not yet answered",
                               options_.input_bytes_max));
  }
  return take();
}

Output Session::on_eof(std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (phase_ != Phase::kClosed) close("the client closed the connection");
  return take();
}

Output Session::on_opened(base::Result<TimelineInfo> info, std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (phase_ != Phase::kOpening) return take();
  if (!info) {
    fatal(info.error().code == base::ErrorCode::kNotFound ? "3D000" : "58000",
          info.error().message);
    return take();
  }
  info_ = std::move(*info);
  WQ_ASSERT(info_.tli >= 1, "timeline {}", info_.tli);
  WQ_ASSERT(info_.wal_seg_size >= wal::kMinSegmentSize && info_.wal_seg_size <= wal::kMaxSegmentSize &&
                (info_.wal_seg_size & (info_.wal_seg_size - 1)) == 0,
            "wal_seg_size {}", info_.wal_seg_size);
  commit_ = std::max(commit_, info_.commit_lsn);
  encode_authentication_ok(out_.bytes);
  const std::array<std::pair<std::string_view, std::string_view>, 12> params = {{
      {"application_name", application_name_},
      {"client_encoding", "UTF8"},
      {"DateStyle", "ISO, MDY"},
      {"default_transaction_read_only", "off"},
      {"in_hot_standby", "off"},
      {"integer_datetimes", "on"},  // pg_receivewal exits without it
      {"IntervalStyle", "postgres"},
      {"is_superuser", "on"},
      {"server_encoding", "UTF8"},
      {"server_version", options_.server_version},
      {"standard_conforming_strings", "on"},
      {"TimeZone", "UTC"},
  }};
  for (const auto& [name, value] : params) encode_parameter_status(out_.bytes, name, value);
  encode_backend_key_data(out_.bytes, options_.backend_pid, options_.secret_key);
  encode_ready_for_query(out_.bytes);
  phase_ = Phase::kCommands;
  process();  // commands that arrived while the host was looking
  return take();
}

Output Session::on_commit_lsn(Lsn commit_lsn, std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (commit_lsn > commit_) {
    commit_ = commit_lsn;
    waiting_commit_ = false;
    pump();
  }
  return take();
}

Output Session::on_wal(std::uint64_t stream, Lsn from,
                       base::Result<std::vector<std::uint8_t>> bytes, std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  // A read of an earlier stream (ended by CopyDone, an error or a close) is dropped.
  if (phase_ != Phase::kStreaming || stream != stream_) return take();
  WQ_ASSERT(read_in_flight_ && from == read_from_,
            "WAL read result for {} while {} was asked ({})", from, read_from_,
            read_in_flight_ ? "in flight" : "none in flight");
  read_in_flight_ = false;
  if (!bytes) {
    if (bytes.error().code == base::ErrorCode::kNotFound) {
      error("58P01", fmt::format("requested WAL segment {} has already been removed",
                                 wal::segment_file_name(
                                     info_.tli, wal::segno_of(from, info_.wal_seg_size),
                                     info_.wal_seg_size)),
            bytes.error().message);
    } else if (bytes.error().code == base::ErrorCode::kCorrupt) {
      // The host found WAL that does not decode (CRC, page header) and sends
      // none of it: data_corrupted, naming where the stream stopped.
      error("XX001", fmt::format("WAL at {} failed verification on this server: {}", from,
                                 bytes.error().message),
            "the server sent every byte before it; read from another server or retry once it "
            "is repaired");
    } else {
      error("XX000", fmt::format("could not read WAL at {}: {}", from, bytes.error().message));
    }
    phase_ = Phase::kCommands;  // the error ended COPY mode; ReadyForQuery was sent
    ++stream_;
    process();
    return take();
  }
  WQ_ASSERT(!bytes->empty() && bytes->size() <= read_to_ - from,
            "WAL read of [{}, {}) returned {} bytes", from, read_to_, bytes->size());
  encode_xlog_data(out_.bytes, from, commit_, now_us_, *bytes);
  sent_ = from + bytes->size();
  pump();
  return take();
}

Output Session::on_slot(std::optional<Lsn> restart_lsn, std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (phase_ != Phase::kAwaitingSlot) return take();
  const std::array<Column, 3> columns = {text_column("slot_type"), text_column("restart_lsn"),
                                         int8_column("restart_tli")};
  std::array<std::optional<std::string>, 3> row = {std::string("physical"), std::nullopt,
                                                   std::nullopt};
  if (restart_lsn && restart_lsn->is_valid()) {
    row[1] = restart_lsn->to_string();
    row[2] = fmt::format("{}", info_.tli);  // both or neither, as pg_receivewal needs
  }
  send_rows(columns, row, "READ_REPLICATION_SLOT");
  phase_ = Phase::kCommands;
  process();
  return take();
}

Output Session::on_tick(std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (started_us_ < 0) started_us_ = now_us_;
  switch (phase_) {
    case Phase::kStartup:
    case Phase::kOpening:
      if (now_us_ - started_us_ >= options_.startup_timeout_us) {
        close(fmt::format("startup not finished within {} s", options_.startup_timeout_us /
                                                                    kMicrosPerSecond));
      }
      break;
    case Phase::kStreaming:
      if (now_us_ - last_received_us_ >= options_.receive_timeout_us) {
        close(fmt::format("replication timeout: nothing received from the client for {} s",
                          options_.receive_timeout_us / kMicrosPerSecond));
      } else if (now_us_ - last_keepalive_us_ >= options_.keepalive_interval_us) {
        encode_keepalive(out_.bytes, sent_, now_us_, /*reply_requested=*/true);
        last_keepalive_us_ = now_us_;
      }
      break;
    case Phase::kCommands:
    case Phase::kAwaitingSlot:
    case Phase::kClosed:
      break;
  }
  return take();
}

Output Session::on_shutdown(std::int64_t now_us) {
  now_us_ = std::max(now_us_, now_us);
  if (phase_ == Phase::kStreaming) {
    encode_command_complete(out_.bytes, "COPY 0");
    close("server shutting down");
  } else if (phase_ != Phase::kClosed) {
    fatal("57P01", "terminating connection due to administrator command: the server is stopping");
  }
  return take();
}

// ---- Decoding ----

void Session::process() {
  for (;;) {
    if (phase_ == Phase::kStartup) {
      auto packet = reader_.next_startup();
      if (!packet) {
        fatal("08P01", packet.error().message);
        return;
      }
      if (!packet->has_value()) return;
      handle_startup(std::move(**packet));
    } else if (phase_ == Phase::kCommands || phase_ == Phase::kStreaming) {
      auto raw = reader_.next_message();
      if (!raw) {
        fatal("08P01", raw.error().message);
        return;
      }
      if (!raw->has_value()) return;
      handle_message(std::move(**raw));
    } else {
      return;  // waiting for the host, or closed
    }
  }
}

void Session::handle_startup(std::vector<std::uint8_t> packet) {
  auto decoded = decode_startup_packet(packet);
  if (!decoded) {
    fatal("08P01", decoded.error().message);
    return;
  }
  std::visit(
      base::Overloaded{
          [&](const SslRequest&) {
            if (ssl_answered_) {
              fatal("08P01", "SSLRequest sent twice");
              return;
            }
            ssl_answered_ = true;
            encode_refuse_encryption(out_.bytes);
          },
          [&](const GssEncRequest&) {
            if (gss_answered_) {
              fatal("08P01", "GSSENCRequest sent twice");
              return;
            }
            gss_answered_ = true;
            encode_refuse_encryption(out_.bytes);
          },
          [&](const CancelRequest&) { close("cancel request (not supported)"); },
          [&](const StartupMessage& m) {
            if ((m.protocol & 0xFFFF) != 0) {
              fatal("0A000", fmt::format("unsupported frontend protocol 3.{}: this server "
                                         "supports 3.0",
                                         m.protocol & 0xFFFF));
              return;
            }
            const std::string* user = m.find("user");
            if (user == nullptr || user->empty()) {
              fatal("28000", "no PostgreSQL user name specified in startup packet");
              return;
            }
            const std::string* replication = m.find("replication");
            if (replication == nullptr) {
              fatal("0A000",
                    "this server serves only physical replication connections: connect with "
                    "replication=true",
                    std::string(kOptionsHint));
              return;
            }
            if (*replication != "database") {
              auto b = parse_pg_bool(*replication);
              if (!b) {
                fatal("22023", fmt::format("invalid value for parameter \"replication\": \"{}\"",
                                           *replication));
                return;
              }
              if (!*b) {
                fatal("0A000",
                      "this server serves only physical replication connections: connect with "
                      "replication=true, not replication=false",
                      std::string(kOptionsHint));
                return;
              }
            }
            const std::string* options = m.find("options");
            auto ref = parse_timeline_options(options == nullptr ? std::string_view{} : *options);
            if (!ref) {
              fatal("08004", ref.error().message, std::string(kOptionsHint));
              return;
            }
            if (const std::string* app = m.find("application_name"); app != nullptr) {
              application_name_ = *app;
            }
            ref_ = *ref;
            phase_ = Phase::kOpening;
            out_.requests.push_back(OpenTimeline{*ref, *user, application_name_});
          },
      },
      *decoded);
}

void Session::handle_message(MessageReader::Raw raw) {
  auto msg = decode_frontend_message(raw.type, raw.body);
  if (!msg) {
    fatal("08P01", msg.error().message);
    return;
  }
  if (phase_ == Phase::kStreaming) {
    handle_copy(std::move(*msg));
    return;
  }
  std::visit(base::Overloaded{
                 [&](const Query& q) { handle_query(q.text); },
                 [&](const Terminate&) { close("the client sent Terminate"); },
                 [&](const CopyData&) {
                   error("08P01", "unexpected CopyData: no COPY is in progress");
                 },
                 [&](const CopyDone&) {
                   error("08P01", "unexpected CopyDone: no COPY is in progress");
                 },
                 [&](const CopyFail&) {
                   error("08P01", "unexpected CopyFail: no COPY is in progress");
                 },
                 [&](const OtherMessage& o) {
                   auto c = static_cast<unsigned char>(o.type);
                   error("08P01",
                         fmt::format("message type {} is not supported on a replication "
                                     "connection: send replication commands as simple Query "
                                     "('Q') messages",
                                     c >= 0x20 && c < 0x7F ? fmt::format("'{}'", o.type)
                                                           : fmt::format("0x{:02x}", c)));
                 },
             },
             *msg);
}

void Session::handle_copy(FrontendMessage msg) {
  last_received_us_ = now_us_;  // any message counts as a sign of life
  std::visit(
      base::Overloaded{
          [&](const CopyData& d) {
            auto m = decode_copy_message(d.payload);
            if (!m) {
              fatal("08P01", m.error().message);
              return;
            }
            std::visit(base::Overloaded{
                           [&](const StandbyStatusUpdate& u) {
                             auto clamp = [&](Lsn l) { return std::min(l, commit_); };
                             LearnerFeedback f;  // in steps: GCC 12 maybe-uninitialized
                             f.slot = slot_;
                             f.write = clamp(u.write);
                             f.flush = clamp(u.flush);
                             f.apply = clamp(u.apply);
                             out_.requests.emplace_back(std::in_place_type<LearnerFeedback>,
                                                        std::move(f));
                             if (u.reply_requested) {
                               encode_keepalive(out_.bytes, sent_, now_us_, false);
                               last_keepalive_us_ = now_us_;
                             }
                           },
                           [&](const HotStandbyFeedback& h) {
                             out_.requests.push_back(StandbyFeedback{h});
                           },
                       },
                       *m);
          },
          [&](const CopyDone&) { end_stream_by_client(); },
          [&](const Terminate&) { close("the client sent Terminate while streaming"); },
          [&](const CopyFail& f) {
            fatal("57014", fmt::format("COPY failed on the client: {}", f.message));
          },
          [&](const Query&) {
            fatal("08P01", "unexpected message type 'Q' during COPY: CopyData, CopyDone or "
                           "Terminate expected");
          },
          [&](const OtherMessage& o) {
            auto c = static_cast<unsigned char>(o.type);
            fatal("08P01", fmt::format("unexpected message type {} during COPY: CopyData, "
                                       "CopyDone or Terminate expected",
                                       c >= 0x20 && c < 0x7F ? fmt::format("'{}'", o.type)
                                                             : fmt::format("0x{:02x}", c)));
          },
      },
      std::move(msg));
}

void Session::handle_query(const std::string& text) {
  auto cmd = parse_command(text);
  if (!cmd) {
    error(command_error_sqlstate(cmd.error()), cmd.error().message);
    return;
  }
  run(*cmd);
}

// ---- Commands ----

void Session::send_rows(std::span<const Column> columns,
                        std::span<const std::optional<std::string>> values, std::string_view tag) {
  encode_row_description(out_.bytes, columns);
  encode_data_row(out_.bytes, values);
  encode_command_complete(out_.bytes, tag);
  encode_ready_for_query(out_.bytes);
}

void Session::run(const Command& cmd) {
  std::visit(
      base::Overloaded{
          [&](const IdentifySystem&) {
            const std::array<Column, 4> columns = {text_column("systemid"),
                                                   int4_column("timeline"),
                                                   text_column("xlogpos"), text_column("dbname")};
            const std::array<std::optional<std::string>, 4> row = {
                fmt::format("{}", info_.system_id), fmt::format("{}", info_.tli),
                commit_.to_string(), std::nullopt};
            send_rows(columns, row, "IDENTIFY_SYSTEM");
          },
          [&](const Show& s) {
            std::optional<std::string> value;
            const std::string& n = s.name;
            if (n == "wal_segment_size") value = size_text(info_.wal_seg_size);
            if (n == "data_directory_mode") value = "0700";
            if (n == "server_version") value = options_.server_version;
            if (n == "server_version_num") value = version_num(options_.server_version);
            if (n == "integer_datetimes" || n == "standard_conforming_strings") value = "on";
            if (n == "wal_block_size" || n == "block_size") value = fmt::format("{}", wal::kBlockSize);
            if (n == "server_encoding" || n == "client_encoding") value = "UTF8";
            if (n == "timezone") value = "UTC";
            if (n == "application_name") value = application_name_;
            if (!value) {
              error("42704", fmt::format("unrecognized configuration parameter \"{}\"", n),
                    "this server shows data_directory_mode, wal_segment_size, wal_block_size, "
                    "block_size, server_version, server_version_num, integer_datetimes, "
                    "server_encoding, client_encoding, standard_conforming_strings, timezone, "
                    "application_name");
              return;
            }
            const std::array<Column, 1> columns = {text_column(n)};
            const std::array<std::optional<std::string>, 1> row = {*value};
            send_rows(columns, row, "SHOW");
          },
          [&](const TimelineHistory& h) {
            std::array<Column, 2> columns = {text_column("filename"), text_column("content")};
            columns[0].typmod = 0;  // as walsender.c sends them
            columns[1].typmod = 0;
            std::string file = fmt::format("{:08X}.history", h.tli);
            if (h.tli != info_.tli || info_.history.empty()) {
              // PostgreSQL has sent the row description before it finds the file missing.
              encode_row_description(out_.bytes, columns);
              error("58P01", fmt::format("could not open file \"pg_wal/{}\": No such file or "
                                         "directory",
                                         file),
                    h.tli == 1 ? "timeline 1 has no history file" : "");
              return;
            }
            const std::array<std::optional<std::string>, 2> row = {file, info_.history};
            send_rows(columns, row, "TIMELINE_HISTORY");
          },
          [&](const ReadReplicationSlot& r) {
            phase_ = Phase::kAwaitingSlot;
            out_.requests.push_back(ReadSlot{r.slot});
          },
          [&](const StartReplication& s) { start_replication(s); },
          [&](const CreateReplicationSlot& c) {
            // Slots are implicit here: the host keys learner positions by slot name.
            const std::array<Column, 4> columns = {
                text_column("slot_name"), text_column("consistent_point"),
                text_column("snapshot_name"), text_column("output_plugin")};
            const std::array<std::optional<std::string>, 4> row = {c.slot, std::string("0/0"),
                                                                   std::nullopt, std::nullopt};
            send_rows(columns, row, "CREATE_REPLICATION_SLOT");
          },
          [&](const DropReplicationSlot& d) {
            out_.requests.push_back(DropSlot{d.slot});
            encode_command_complete(out_.bytes, "DROP_REPLICATION_SLOT");
            encode_ready_for_query(out_.bytes);
          },
      },
      cmd);
}

void Session::start_replication(const StartReplication& cmd) {
  if (cmd.tli && *cmd.tli != info_.tli) {
    error("XX000", fmt::format("requested timeline {} is not in this server's history", *cmd.tli),
          fmt::format("this server streams timeline {} only", info_.tli));
    return;
  }
  encode_copy_both_response(out_.bytes);
  if (cmd.start > commit_) {
    // As PostgreSQL: the check comes after CopyBothResponse, and ends COPY mode.
    error("XX000", fmt::format("requested starting point {} is ahead of the WAL commit position of "
                               "this server {}",
                               cmd.start, commit_));
    return;
  }
  phase_ = Phase::kStreaming;
  ++stream_;
  slot_ = cmd.slot;
  sent_ = cmd.start;
  read_in_flight_ = false;
  waiting_commit_ = false;
  last_received_us_ = now_us_;
  last_keepalive_us_ = now_us_;
  pump();
}

void Session::pump() {
  if (phase_ != Phase::kStreaming || read_in_flight_) return;
  if (sent_ < commit_) {
    // At most send_bytes_max, ending on a page boundary when more is committed.
    std::uint64_t limit = (sent_.value() + options_.send_bytes_max) / wal::kBlockSize * wal::kBlockSize;
    Lsn to = std::min(commit_, Lsn(limit));
    WQ_ASSERT(to > sent_ && to <= commit_, "read [{}, {}) with commit {}", sent_, to, commit_);
    read_in_flight_ = true;
    read_from_ = sent_;
    read_to_ = to;
    out_.requests.push_back(ReadWal{stream_, sent_, to});
    return;
  }
  if (!waiting_commit_) {
    waiting_commit_ = true;
    out_.requests.push_back(WaitCommit{commit_});
  }
}

void Session::end_stream_by_client() {
  // One CommandComplete, then ReadyForQuery: what both pg_receivewal and the
  // walreceiver accept (reference §3.8, end of streaming, case 3).
  encode_copy_done(out_.bytes);
  encode_command_complete(out_.bytes, "START_REPLICATION");
  encode_ready_for_query(out_.bytes);
  phase_ = Phase::kCommands;
  ++stream_;
  read_in_flight_ = false;
}

// ---- Errors and closing ----

void Session::error(std::string sqlstate, std::string message, std::string hint) {
  ErrorFields e;
  e.severity = Severity::kError;
  e.sqlstate = std::move(sqlstate);
  e.message = std::move(message);
  e.hint = std::move(hint);
  encode_error_response(out_.bytes, e);
  encode_ready_for_query(out_.bytes);
}

void Session::fatal(std::string sqlstate, std::string message, std::string hint) {
  ErrorFields e;
  e.severity = Severity::kFatal;
  e.sqlstate = std::move(sqlstate);
  e.message = std::move(message);
  e.hint = std::move(hint);
  encode_error_response(out_.bytes, e);
  close("FATAL: " + e.message);
}

void Session::close(std::string reason) {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  ++stream_;
  read_in_flight_ = false;
  out_.close = true;
  out_.close_reason = std::move(reason);
}

}  // namespace wq::pgwire
