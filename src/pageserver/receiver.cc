// libpq physical-replication client. See receiver.h.
#include "pageserver/receiver.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <libpq-fe.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "wal/format.h"

namespace wq::pageserver {

namespace {

std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
void store_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

// Microseconds since 2000-01-01 UTC, PostgreSQL's TimestampTz.
std::int64_t pg_now_us() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return us - 946684800LL * 1000000LL;
}

std::string one_line(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

struct Conn {
  PGconn* c = nullptr;
  ~Conn() {
    if (c) PQfinish(c);
  }
};

struct Identity {
  wal::Lsn xlogpos;
  std::uint32_t tli = 0;
};

}  // namespace

std::variant<XLogData, Keepalive, base::Error> parse_copy_data(std::span<const std::uint8_t> msg) {
  if (msg.empty()) return base::Error{base::ErrorCode::kMalformedMessage, "empty CopyData"};
  if (msg[0] == 'w') {
    if (msg.size() < 25) {
      return base::Error{base::ErrorCode::kMalformedMessage,
                         fmt::format("XLogData of {} bytes, expected at least 25", msg.size())};
    }
    return XLogData{wal::Lsn(load_be64(msg.data() + 1)), wal::Lsn(load_be64(msg.data() + 9)),
                    msg.subspan(25)};
  }
  if (msg[0] == 'k') {
    if (msg.size() < 18) {
      return base::Error{base::ErrorCode::kMalformedMessage,
                         fmt::format("keepalive of {} bytes, expected 18", msg.size())};
    }
    return Keepalive{wal::Lsn(load_be64(msg.data() + 1)), msg[17] != 0};
  }
  return base::Error{base::ErrorCode::kMalformedMessage,
                     fmt::format("CopyData type 0x{:02x}, expected 'w' or 'k'", msg[0])};
}

std::array<std::uint8_t, 34> standby_status(wal::Lsn write, wal::Lsn flush, wal::Lsn apply,
                                            std::int64_t send_time_us, bool reply_requested) {
  std::array<std::uint8_t, 34> m{};
  m[0] = 'r';
  store_be64(m.data() + 1, write.value());
  store_be64(m.data() + 9, flush.value());
  store_be64(m.data() + 17, apply.value());
  store_be64(m.data() + 25, static_cast<std::uint64_t>(send_time_us));
  m[33] = reply_requested ? 1 : 0;
  return m;
}

namespace {

using Clock = std::chrono::steady_clock;

// How long a source that refused START_REPLICATION is left out of the picks.
constexpr std::chrono::seconds kRefusedSourceBackoff{30};

PGconn* connect_to(const ReceiverOptions& o, const net::HostPort& hp, const char* application_name,
                   std::string& err) {
  std::string host = hp.host, port = std::to_string(hp.port);
  std::string timeout = std::to_string(std::max<long>(2, o.connect_timeout.count() / 1000));
  std::string options = fmt::format("-c tenant_id={} -c timeline_id={}", id_hex(o.tenant),
                                    id_hex(o.timeline));
  std::vector<const char*> keys = {"host", "port", "dbname", "replication", "application_name",
                                   "connect_timeout"};
  std::vector<const char*> vals = {host.c_str(), port.c_str(), "replication", "true",
                                   application_name, timeout.c_str()};
  if (!o.user.empty()) {
    keys.push_back("user");
    vals.push_back(o.user.c_str());
  }
  if (!o.plain_postgres) {
    keys.push_back("options");
    vals.push_back(options.c_str());
  }
  keys.push_back(nullptr);
  vals.push_back(nullptr);
  PGconn* c = PQconnectdbParams(keys.data(), vals.data(), 0);
  if (PQstatus(c) != CONNECTION_OK) {
    err = fmt::format("connect {}: {}", hp.to_string(), one_line(PQerrorMessage(c)));
    PQfinish(c);
    return nullptr;
  }
  return c;
}

// Waits until the socket is readable, the deadline passes or we stop.
// False with `err` set on the last two.
bool wait_readable(PGconn* c, Clock::time_point deadline, const std::atomic<bool>& stopping,
                   std::string& err) {
  for (;;) {
    if (stopping.load()) {
      err = "stopping";
      return false;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      err = "no answer in time";
      return false;
    }
    pollfd pfd{PQsocket(c), POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 100)));
    if (pr > 0) return true;
    if (pr < 0 && errno != EINTR) {
      err = fmt::format("poll: {}", std::strerror(errno));
      return false;
    }
  }
}

// The next result of the query in progress, waiting at most until `deadline`
// (PQexec would block forever on a source that accepted and froze).
// nullptr with `err` set on timeout, stop or a broken connection; nullptr with
// `err` empty when the query has no more results.
PGresult* next_result(PGconn* c, Clock::time_point deadline, const std::atomic<bool>& stopping,
                      std::string& err) {
  for (;;) {
    if (PQconsumeInput(c) == 0) {
      err = one_line(PQerrorMessage(c));
      return nullptr;
    }
    if (!PQisBusy(c)) return PQgetResult(c);
    if (!wait_readable(c, deadline, stopping, err)) return nullptr;
  }
}

struct Result {
  PGresult* r = nullptr;
  ~Result() {
    if (r) PQclear(r);
  }
};

// Sends `cmd` and returns its first result (a COPY_BOTH result leaves the
// connection in copy mode; any other is read to the end). nullptr with `err`.
PGresult* exec_bounded(PGconn* c, const std::string& cmd, std::chrono::milliseconds timeout,
                       const std::atomic<bool>& stopping, std::string& err) {
  if (PQsendQuery(c, cmd.c_str()) != 1) {
    err = one_line(PQerrorMessage(c));
    return nullptr;
  }
  auto deadline = Clock::now() + timeout;
  PGresult* first = next_result(c, deadline, stopping, err);
  if (first == nullptr) {
    if (err.empty()) err = "no result";
    return nullptr;
  }
  ExecStatusType st = PQresultStatus(first);
  if (st == PGRES_COPY_BOTH || st == PGRES_COPY_OUT || st == PGRES_COPY_IN) return first;
  for (int guard = 0; guard < 16; ++guard) {
    std::string e;
    PGresult* more = next_result(c, deadline, stopping, e);
    if (more == nullptr) {
      if (!e.empty()) {
        PQclear(first);
        err = e;
        return nullptr;
      }
      break;
    }
    PQclear(more);
  }
  return first;
}

std::optional<Identity> identify(PGconn* c, const net::HostPort& hp, std::chrono::milliseconds timeout,
                                 const std::atomic<bool>& stopping, std::string& err) {
  std::string e;
  Result r{exec_bounded(c, "IDENTIFY_SYSTEM", timeout, stopping, e)};
  if (r.r == nullptr) {
    err = fmt::format("IDENTIFY_SYSTEM on {}: {}", hp.to_string(), e);
    return std::nullopt;
  }
  if (PQresultStatus(r.r) != PGRES_TUPLES_OK || PQntuples(r.r) != 1 || PQnfields(r.r) < 3) {
    err = fmt::format("IDENTIFY_SYSTEM on {}: {}", hp.to_string(), one_line(PQresultErrorMessage(r.r)));
    return std::nullopt;
  }
  auto lsn = wal::Lsn::parse(PQgetvalue(r.r, 0, 2));
  if (!lsn) {
    err = fmt::format("IDENTIFY_SYSTEM on {}: xlogpos '{}': {}", hp.to_string(), PQgetvalue(r.r, 0, 2),
                      lsn.error().message);
    return std::nullopt;
  }
  return Identity{*lsn, static_cast<std::uint32_t>(std::strtoul(PQgetvalue(r.r, 0, 1), nullptr, 10))};
}

// CREATE_REPLICATION_SLOT, an existing slot (42710) being fine: a safekeeper's
// slots exist implicitly, a PostgreSQL primary needs one before
// START_REPLICATION SLOT. Other errors show up at START_REPLICATION.
void create_slot(PGconn* c, const std::string& slot, std::chrono::milliseconds timeout,
                 const std::atomic<bool>& stopping) {
  std::string e;
  Result r{exec_bounded(c, fmt::format("CREATE_REPLICATION_SLOT {} PHYSICAL RESERVE_WAL", slot), timeout,
                        stopping, e)};
  if (r.r != nullptr && PQresultStatus(r.r) != PGRES_TUPLES_OK) {
    const char* state = PQresultErrorField(r.r, PG_DIAG_SQLSTATE);
    if (state == nullptr || std::string_view(state) != "42710") {
      spdlog::debug("event=create_slot_failed slot={} error=\"{}\"", slot,
                    one_line(PQresultErrorMessage(r.r)));
    }
  }
}

}  // namespace

const char* end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::kBroken:
      return "broken";
    case EndReason::kStalled:
      return "stalled";
    case EndReason::kBehind:
      return "behind";
    case EndReason::kStopping:
      return "stopping";
  }
  return "?";
}

void BehindTracker::on_round(wal::Lsn current, std::optional<wal::Lsn> other, wal::Lsn ours,
                             Clock::time_point now) {
  on_current(current);
  if (ours.value() + margin_ < current.value()) {
    target_.reset();
    return;
  }
  if (!target_ && other && *other > current && *other - current > margin_) {
    target_ = *other;
    since_ = now;
  }
}

void BehindTracker::on_current(wal::Lsn current) {
  if (target_ && current >= *target_) target_.reset();
}

bool BehindTracker::should_switch(Clock::time_point now) const {
  return target_.has_value() && now - since_ >= grace_;
}

WalReceiver::WalReceiver(ReceiverOptions options, Service& service)
    : opt_(std::move(options)), service_(service) {
  WQ_ASSERT(!opt_.sources.empty(), "a receiver needs at least one source");
  status_.slot = opt_.slot.value_or("");
  refused_until_.assign(opt_.sources.size(), Clock::time_point{});
  for (const auto& hp : opt_.sources) {
    SourceProbe p;
    p.source = hp.to_string();
    status_.probes.push_back(std::move(p));
  }
}

WalReceiver::~WalReceiver() { stop(); }

void WalReceiver::start() {
  thread_ = std::thread([this] { run(); });
  if (opt_.probe_interval.count() > 0) probe_thread_ = std::thread([this] { probe_loop(); });
}

void WalReceiver::stop() {
  stopping_.store(true);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (probe_thread_.joinable()) probe_thread_.join();
}

ReceiverStatus WalReceiver::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

std::string WalReceiver::metrics_text() const {
  ReceiverStatus s = status();
  std::string out;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  counter("walquorum_ps_receiver_connects_total", "replication streams started", s.connects);
  out += "# HELP walquorum_ps_receiver_failovers_total streams ended or picks failed, by reason "
         "(broken: connection, error or bad WAL; stalled: silent; behind: another source stayed ahead)\n"
         "# TYPE walquorum_ps_receiver_failovers_total counter\n";
  out += fmt::format("walquorum_ps_receiver_failovers_total{{reason=\"broken\"}} {}\n", s.failovers_broken);
  out += fmt::format("walquorum_ps_receiver_failovers_total{{reason=\"stalled\"}} {}\n", s.failovers_stalled);
  out += fmt::format("walquorum_ps_receiver_failovers_total{{reason=\"behind\"}} {}\n", s.failovers_behind);
  counter("walquorum_ps_receiver_stalls_total", "streams silent for the stall timeout", s.stalls);
  counter("walquorum_ps_receiver_status_updates_total", "standby status updates sent", s.status_updates);
  counter("walquorum_ps_receiver_probe_rounds_total", "rounds asking every source for its position",
          s.probe_rounds);
  counter("walquorum_ps_receiver_slot_moves_total", "slot advances sent to sources not streamed from",
          s.slot_moves);
  out += fmt::format("# HELP walquorum_ps_receiver_streaming 1 while a stream is open\n"
                     "# TYPE walquorum_ps_receiver_streaming gauge\nwalquorum_ps_receiver_streaming {}\n",
                     s.source.empty() ? 0 : 1);
  return out;
}

void WalReceiver::set_error(std::string e) {
  spdlog::warn("event=receiver_error error=\"{}\"", e);
  std::lock_guard lock(mu_);
  status_.last_error = std::move(e);
  status_.source.clear();
}

bool WalReceiver::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, d, [&] { return stopping_.load(); });
  return !stopping_.load();
}

void WalReceiver::run() {
  while (!stopping_.load()) {
    Ended end = stream_once();
    if (stopping_.load() || end.reason == EndReason::kStopping) break;
    set_error(end.why);
    {
      std::lock_guard lock(mu_);
      ++status_.failovers;
      if (end.reason == EndReason::kStalled) ++status_.failovers_stalled;
      if (end.reason == EndReason::kBehind) ++status_.failovers_behind;
      if (end.reason == EndReason::kBroken) ++status_.failovers_broken;
    }
    spdlog::info("event=receiver_repick reason={}", end_reason_name(end.reason));
    if (!sleep_for(opt_.retry_delay)) break;
  }
}

void WalReceiver::probe_loop() {
  while (sleep_for(opt_.probe_interval)) probe_round();
}

void WalReceiver::probe_round() {
  std::string current;
  std::vector<wal::Lsn> moved;
  {
    std::lock_guard lock(mu_);
    current = status_.source;
    for (const auto& p : status_.probes) moved.push_back(p.slot_moved_to);
  }
  const wal::Lsn durable = service_.status().durable_lsn;
  std::vector<SourceProbe> out;
  std::uint64_t moves = 0;
  for (std::size_t i = 0; i < opt_.sources.size(); ++i) {
    if (stopping_.load()) return;
    const net::HostPort& hp = opt_.sources[i];
    SourceProbe probe;
    probe.source = hp.to_string();
    probe.slot_moved_to = moved[i];
    std::string err;
    Conn conn;
    conn.c = connect_to(opt_, hp, "walquorum-pageserver-probe", err);
    std::optional<Identity> id;
    if (conn.c) id = identify(conn.c, hp, opt_.connect_timeout, stopping_, err);
    if (!id) {
      probe.error = err;
      probe.slot_moved_to = wal::Lsn();  // it may come back without the slot: move it again then
      out.push_back(std::move(probe));
      continue;
    }
    probe.ok = true;
    probe.position = id->xlogpos;
    // Move the slot there when it is not the source streamed from (that one
    // gets the status updates of the stream) and it can take more than last time.
    wal::Lsn to = std::min(durable, id->xlogpos);
    if (opt_.slot && probe.source != current && to.is_valid() && to > probe.slot_moved_to) {
      create_slot(conn.c, *opt_.slot, opt_.connect_timeout, stopping_);
      std::string cmd = fmt::format("START_REPLICATION SLOT {} PHYSICAL {}", *opt_.slot, id->xlogpos);
      std::string e;
      Result r{exec_bounded(conn.c, cmd, opt_.connect_timeout, stopping_, e)};
      if (r.r == nullptr || PQresultStatus(r.r) != PGRES_COPY_BOTH) {
        probe.error = fmt::format("{} on {}: {}", cmd, probe.source,
                                  r.r ? one_line(PQresultErrorMessage(r.r)) : e);
      } else {
        auto m = standby_status(to, to, to, pg_now_us(), false);
        bool sent = PQputCopyData(conn.c, reinterpret_cast<const char*>(m.data()),
                                  static_cast<int>(m.size())) == 1 &&
                    PQputCopyEnd(conn.c, nullptr) == 1 && PQflush(conn.c) == 0;
        // The source answers CopyDone with CopyDone and CommandComplete, after
        // it took the update: read up to there (bounded), so the update is
        // known to have arrived before the connection closes.
        auto deadline = Clock::now() + opt_.connect_timeout;
        bool done = false;
        for (int guard = 0; sent && guard < 100'000; ++guard) {
          if (PQconsumeInput(conn.c) == 0) break;
          char* buf = nullptr;
          int n = PQgetCopyData(conn.c, &buf, 1);
          if (buf) PQfreemem(buf);
          if (n > 0) continue;  // WAL or a keepalive sent before our CopyDone arrived
          if (n == 0) {
            if (!wait_readable(conn.c, deadline, stopping_, e)) break;
            continue;
          }
          if (n == -1) {  // the source ended the copy: its CommandComplete follows
            for (int g2 = 0; g2 < 16; ++g2) {
              PGresult* res = next_result(conn.c, deadline, stopping_, e);
              if (res == nullptr) break;
              done = PQresultStatus(res) == PGRES_COMMAND_OK;
              if (!done) e = one_line(PQresultErrorMessage(res));
              PQclear(res);
              if (!done) break;
            }
          }
          break;
        }
        if (done) {
          probe.slot_moved_to = to;
          ++moves;
          spdlog::debug("event=slot_moved source={} slot={} flush={}", probe.source, *opt_.slot, to);
        } else {
          probe.error = fmt::format("moving slot {} on {} to {}: {}", *opt_.slot, probe.source, to,
                                    e.empty() ? one_line(PQerrorMessage(conn.c)) : e);
        }
      }
    }
    out.push_back(std::move(probe));
  }
  std::lock_guard lock(mu_);
  status_.probes = std::move(out);
  ++status_.probe_rounds;
  status_.slot_moves += moves;
}

WalReceiver::Ended WalReceiver::stream_once() {
  // Pick the source with the highest flush LSN.
  Conn best;
  std::optional<Identity> best_id;
  std::size_t best_index = 0;
  std::string errors;
  const auto now = Clock::now();
  const bool all_refused = std::all_of(refused_until_.begin(), refused_until_.end(),
                                       [&](Clock::time_point t) { return t > now; });
  for (std::size_t i = 0; i < opt_.sources.size() && !stopping_.load(); ++i) {
    if (!all_refused && refused_until_[i] > now) continue;
    std::string err;
    PGconn* c = connect_to(opt_, opt_.sources[i], "walquorum-pageserver", err);
    std::optional<Identity> id;
    if (c) id = identify(c, opt_.sources[i], opt_.connect_timeout, stopping_, err);
    if (!id) {
      if (c) PQfinish(c);
      errors += (errors.empty() ? "" : "; ") + err;
      continue;
    }
    if (!best_id || id->xlogpos > best_id->xlogpos) {
      if (best.c) PQfinish(best.c);
      best.c = c;
      best_id = id;
      best_index = i;
    } else {
      PQfinish(c);
    }
  }
  if (!best.c) {
    if (errors.empty()) return {"stopping", EndReason::kStopping};
    return {errors, EndReason::kBroken};
  }
  const net::HostPort& src = opt_.sources[best_index];

  wal::Lsn start;
  if (auto r = service_.resume_lsn()) {
    start = *r;
  } else if (opt_.start_lsn) {
    start = *opt_.start_lsn;
  } else {
    start = wal::Lsn(best_id->xlogpos.value() - best_id->xlogpos.value() % opt_.seg_size);
  }
  if (start > best_id->xlogpos) {
    return {fmt::format("every source is behind us: best {} has {}, we resume at {}", src.to_string(),
                        best_id->xlogpos, start),
            EndReason::kBroken};
  }
  service_.begin_stream(start);
  if (opt_.slot) create_slot(best.c, *opt_.slot, opt_.connect_timeout, stopping_);
  std::string cmd = opt_.slot ? fmt::format("START_REPLICATION SLOT {} PHYSICAL {}", *opt_.slot, start)
                              : fmt::format("START_REPLICATION PHYSICAL {}", start);
  {
    std::string e;
    Result r{exec_bounded(best.c, cmd, opt_.connect_timeout, stopping_, e)};
    if (r.r == nullptr || PQresultStatus(r.r) != PGRES_COPY_BOTH) {
      if (r.r != nullptr) {
        // The source answered and refused: try the others first for a while.
        refused_until_[best_index] = Clock::now() + kRefusedSourceBackoff;
      }
      return {fmt::format("{} on {}: {}", cmd, src.to_string(), r.r ? one_line(PQresultErrorMessage(r.r)) : e),
              EndReason::kBroken};
    }
  }
  std::uint64_t round_seen = 0;
  {
    std::lock_guard lock(mu_);
    status_.source = src.to_string();
    ++status_.connects;
    round_seen = status_.probe_rounds;  // rounds before this stream say nothing about it
  }
  spdlog::info("event=streaming source={} start={} source_flush={} slot={}", src.to_string(), start,
               best_id->xlogpos, opt_.slot.value_or("none"));

  BehindTracker behind(opt_.behind_margin_bytes, opt_.behind_grace);
  wal::Lsn source_end = best_id->xlogpos;  // the newest position the source told us
  auto last_heard = Clock::now();
  auto last_status = Clock::time_point{};
  wal::Lsn reported;
  bool asked_keepalive = false;
  auto send_status = [&](bool reply_requested) -> bool {
    wal::Lsn durable = service_.sync_if_due(false);
    auto m = standby_status(service_.stream_position(), durable, durable, pg_now_us(), reply_requested);
    if (PQputCopyData(best.c, reinterpret_cast<const char*>(m.data()), static_cast<int>(m.size())) != 1 ||
        PQflush(best.c) != 0) {
      return false;
    }
    reported = durable;
    last_status = Clock::now();
    std::lock_guard lock(mu_);
    ++status_.status_updates;
    return true;
  };
  auto broken = [](std::string why) { return Ended{std::move(why), EndReason::kBroken}; };
  if (!send_status(false)) return broken(fmt::format("{}: status update failed", src.to_string()));

  bool got_wal = false;
  while (!stopping_.load()) {
    pollfd pfd{PQsocket(best.c), POLLIN, 0};
    int pr = ::poll(&pfd, 1, 100);
    if (pr < 0 && errno != EINTR) return broken(fmt::format("poll: {}", std::strerror(errno)));
    if (PQconsumeInput(best.c) == 0) {
      return broken(fmt::format("{}: {}", src.to_string(), one_line(PQerrorMessage(best.c))));
    }
    bool reply_now = false;
    for (int guard = 0; guard < 10'000; ++guard) {
      char* buf = nullptr;
      int n = PQgetCopyData(best.c, &buf, 1);
      if (n == 0) break;
      if (n == -1) {
        std::string e = fmt::format("{} ended the stream", src.to_string());
        bool server_error = false;
        for (PGresult* res = PQgetResult(best.c); res != nullptr; res = PQgetResult(best.c)) {
          if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
            e += ": " + one_line(PQresultErrorMessage(res));
            server_error = true;
          }
          PQclear(res);
        }
        // Refused before any WAL came (e.g. it already removed where we
        // resume, or found damage there): try the others first for a while.
        if (server_error && !got_wal) refused_until_[best_index] = Clock::now() + kRefusedSourceBackoff;
        return broken(e);
      }
      if (n < 0) return broken(fmt::format("{}: {}", src.to_string(), one_line(PQerrorMessage(best.c))));
      last_heard = Clock::now();
      asked_keepalive = false;
      auto msg = parse_copy_data(std::span(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)));
      std::string failed;
      if (auto* x = std::get_if<XLogData>(&msg)) {
        got_wal = true;
        service_.set_server_wal_end(x->wal_end);
        source_end = std::max(source_end, x->wal_end);
        base::Status st = service_.feed(x->start, x->bytes);
        if (!st) failed = fmt::format("WAL from {}: {}", src.to_string(), st.error().message);
      } else if (auto* k = std::get_if<Keepalive>(&msg)) {
        service_.set_server_wal_end(k->wal_end);
        source_end = std::max(source_end, k->wal_end);
        reply_now = reply_now || k->reply_requested;
      } else {
        failed = fmt::format("{}: {}", src.to_string(), std::get<base::Error>(msg).message);
      }
      PQfreemem(buf);
      if (!failed.empty()) return broken(failed);
      // feed() can block on a full ingest queue for longer than the stall
      // timeout; that time is ours, not the source's silence.
      last_heard = Clock::now();
    }
    auto now = Clock::now();
    wal::Lsn durable = service_.sync_if_due(false);
    bool ask = !asked_keepalive && now - last_heard >= opt_.stall_timeout / 2;
    if (reply_now || ask || durable > reported || now - last_status >= opt_.status_interval) {
      if (!send_status(ask)) return broken(fmt::format("{}: status update failed", src.to_string()));
      if (ask) asked_keepalive = true;
    }
    if (now - last_heard >= opt_.stall_timeout) {
      std::lock_guard lock(mu_);
      ++status_.stalls;
      return {fmt::format("{} stalled: nothing received for {} ms", src.to_string(),
                          opt_.stall_timeout.count()),
              EndReason::kStalled};
    }
    // Behind: after each probe round, the best other position against ours.
    behind.on_current(source_end);
    {
      std::unique_lock lock(mu_);
      if (status_.probe_rounds != round_seen) {
        round_seen = status_.probe_rounds;
        std::optional<wal::Lsn> other;
        wal::Lsn cur = source_end;
        for (std::size_t i = 0; i < status_.probes.size(); ++i) {
          const SourceProbe& p = status_.probes[i];
          if (!p.ok) continue;
          if (i == best_index) {
            cur = std::max(cur, p.position);
          } else if (!other || p.position > *other) {
            other = p.position;
          }
        }
        lock.unlock();
        behind.on_round(cur, other, service_.stream_position(), now);
      }
    }
    if (behind.should_switch(now)) {
      return {fmt::format("{} stayed behind: another source had {} for {} ms while it reached only {}",
                          src.to_string(), *behind.target(), opt_.behind_grace.count(), source_end),
              EndReason::kBehind};
    }
  }
  service_.sync_if_due(true);
  return {"stopping", EndReason::kStopping};
}

}  // namespace wq::pageserver
