// libpq physical-replication client. See receiver.h.
#include "pageserver/receiver.h"

#include <poll.h>

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

WalReceiver::WalReceiver(ReceiverOptions options, Service& service)
    : opt_(std::move(options)), service_(service) {
  WQ_ASSERT(!opt_.sources.empty(), "a receiver needs at least one source");
}

WalReceiver::~WalReceiver() { stop(); }

void WalReceiver::start() { thread_ = std::thread([this] { run(); }); }

void WalReceiver::stop() {
  stopping_.store(true);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ReceiverStatus WalReceiver::status() const {
  std::lock_guard lock(mu_);
  return status_;
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
    std::string why = stream_once();
    if (stopping_.load()) break;
    set_error(why);
    {
      std::lock_guard lock(mu_);
      ++status_.failovers;
    }
    if (!sleep_for(opt_.retry_delay)) break;
  }
}

namespace {

PGconn* connect_to(const ReceiverOptions& o, const net::HostPort& hp, std::string& err) {
  std::string host = hp.host, port = std::to_string(hp.port);
  std::string timeout = std::to_string(std::max<long>(1, o.connect_timeout.count() / 1000));
  std::string options = fmt::format("-c tenant_id={} -c timeline_id={}", id_hex(o.tenant),
                                    id_hex(o.timeline));
  std::vector<const char*> keys = {"host", "port", "dbname", "replication", "application_name",
                                   "connect_timeout"};
  std::vector<const char*> vals = {host.c_str(), port.c_str(), "replication", "true",
                                   "walquorum-pageserver", timeout.c_str()};
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

std::optional<Identity> identify(PGconn* c, const net::HostPort& hp, std::string& err) {
  PGresult* r = PQexec(c, "IDENTIFY_SYSTEM");
  std::optional<Identity> out;
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 3) {
    err = fmt::format("IDENTIFY_SYSTEM on {}: {}", hp.to_string(), one_line(PQerrorMessage(c)));
  } else {
    auto lsn = wal::Lsn::parse(PQgetvalue(r, 0, 2));
    if (!lsn) {
      err = fmt::format("IDENTIFY_SYSTEM on {}: xlogpos '{}': {}", hp.to_string(), PQgetvalue(r, 0, 2),
                        lsn.error().message);
    } else {
      out = Identity{*lsn, static_cast<std::uint32_t>(std::strtoul(PQgetvalue(r, 0, 1), nullptr, 10))};
    }
  }
  PQclear(r);
  return out;
}

}  // namespace

std::string WalReceiver::stream_once() {
  // Pick the source with the highest flush LSN.
  Conn best;
  std::optional<Identity> best_id;
  std::size_t best_index = 0;
  std::string errors;
  for (std::size_t i = 0; i < opt_.sources.size() && !stopping_.load(); ++i) {
    std::string err;
    PGconn* c = connect_to(opt_, opt_.sources[i], err);
    std::optional<Identity> id;
    if (c) id = identify(c, opt_.sources[i], err);
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
  if (!best.c) return errors.empty() ? "stopping" : errors;
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
    return fmt::format("every source is behind us: best {} has {}, we resume at {}", src.to_string(),
                       best_id->xlogpos, start);
  }
  service_.begin_stream(start);
  std::string cmd = fmt::format("START_REPLICATION PHYSICAL {}", start);
  PGresult* r = PQexec(best.c, cmd.c_str());
  if (PQresultStatus(r) != PGRES_COPY_BOTH) {
    std::string e = fmt::format("{} on {}: {}", cmd, src.to_string(), one_line(PQerrorMessage(best.c)));
    PQclear(r);
    return e;
  }
  PQclear(r);
  {
    std::lock_guard lock(mu_);
    status_.source = src.to_string();
    ++status_.connects;
  }
  spdlog::info("event=streaming source={} start={} source_flush={}", src.to_string(), start,
               best_id->xlogpos);

  using Clock = std::chrono::steady_clock;
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
  if (!send_status(false)) return fmt::format("{}: status update failed", src.to_string());

  while (!stopping_.load()) {
    pollfd pfd{PQsocket(best.c), POLLIN, 0};
    int pr = ::poll(&pfd, 1, 100);
    if (pr < 0 && errno != EINTR) return fmt::format("poll: {}", std::strerror(errno));
    if (PQconsumeInput(best.c) == 0) {
      return fmt::format("{}: {}", src.to_string(), one_line(PQerrorMessage(best.c)));
    }
    bool reply_now = false;
    for (int guard = 0; guard < 10'000; ++guard) {
      char* buf = nullptr;
      int n = PQgetCopyData(best.c, &buf, 1);
      if (n == 0) break;
      if (n == -1) {
        std::string e = fmt::format("{} ended the stream", src.to_string());
        for (PGresult* res = PQgetResult(best.c); res != nullptr; res = PQgetResult(best.c)) {
          if (PQresultStatus(res) == PGRES_FATAL_ERROR) e += ": " + one_line(PQresultErrorMessage(res));
          PQclear(res);
        }
        return e;
      }
      if (n < 0) return fmt::format("{}: {}", src.to_string(), one_line(PQerrorMessage(best.c)));
      last_heard = Clock::now();
      asked_keepalive = false;
      auto msg = parse_copy_data(std::span(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)));
      std::string failed;
      if (auto* x = std::get_if<XLogData>(&msg)) {
        service_.set_server_wal_end(x->wal_end);
        base::Status st = service_.feed(x->start, x->bytes);
        if (!st) failed = fmt::format("WAL from {}: {}", src.to_string(), st.error().message);
      } else if (auto* k = std::get_if<Keepalive>(&msg)) {
        service_.set_server_wal_end(k->wal_end);
        reply_now = reply_now || k->reply_requested;
      } else {
        failed = fmt::format("{}: {}", src.to_string(), std::get<base::Error>(msg).message);
      }
      PQfreemem(buf);
      if (!failed.empty()) return failed;
      // feed() can block on a full ingest queue for longer than the stall
      // timeout; that time is ours, not the source's silence.
      last_heard = Clock::now();
    }
    auto now = Clock::now();
    wal::Lsn durable = service_.sync_if_due(false);
    bool ask = !asked_keepalive && now - last_heard >= opt_.stall_timeout / 2;
    if (reply_now || ask || durable > reported || now - last_status >= opt_.status_interval) {
      if (!send_status(ask)) return fmt::format("{}: status update failed", src.to_string());
      if (ask) asked_keepalive = true;
    }
    if (now - last_heard >= opt_.stall_timeout) {
      std::lock_guard lock(mu_);
      ++status_.stalls;
      return fmt::format("{} stalled: nothing received for {} ms", src.to_string(),
                         opt_.stall_timeout.count());
    }
  }
  service_.sync_if_due(true);
  return "stopping";
}

}  // namespace wq::pageserver
