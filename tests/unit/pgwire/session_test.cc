// Unit tests for src/pgwire/session.h: the whole conversation of a learner,
// driven byte by byte with a fake host, including the commit-LSN bound, slots,
// keepalives, timeouts and every refusal.
#include "pgwire/session.h"

#include <random>

#include <doctest/doctest.h>

#include "backend.h"
#include "base/overloaded.h"

namespace wq::pgwire {
namespace {

using test::Bytes;
using test::Msg;

const std::string kTenant = "0123456789abcdef0123456789abcdef";
const std::string kTimeline = "FEDCBA9876543210FEDCBA9876543210";
constexpr std::uint64_t kSeg = 16 * 1024 * 1024;

std::vector<std::pair<std::string, std::string>> good_params() {
  return {{"user", "postgres"},
          {"database", "replication"},
          {"replication", "true"},
          {"application_name", "pg_receivewal"},
          {"options", "-c tenant_id=" + kTenant + " -c timeline_id=" + kTimeline}};
}

// WAL byte at an LSN in the fake host's timeline.
std::uint8_t wal_byte(std::uint64_t lsn) { return static_cast<std::uint8_t>(lsn * 7 + (lsn >> 13)); }

// A session plus a fake host that answers reads from a deterministic pattern.
struct Harness {
  Session s;
  std::int64_t now = 1'000'000;
  std::vector<Msg> msgs;            // backend messages received so far
  std::vector<Request> requests;    // host requests not yet answered
  bool closed = false;
  std::string close_reason;
  TimelineInfo info;

  explicit Harness(SessionOptions o = {}) : s(std::move(o)) {
    info.system_id = 7711695614745811569ull;
    info.wal_seg_size = kSeg;
    info.tli = 1;
    info.commit_lsn = Lsn(kSeg + 1000);
  }

  std::vector<Msg> take(Output out, bool ssl = false) {
    if (out.close) {
      CHECK(!closed);
      closed = true;
      close_reason = out.close_reason;
    }
    for (auto& r : out.requests) requests.push_back(std::move(r));
    auto m = test::split(out.bytes, ssl);
    msgs.insert(msgs.end(), m.begin(), m.end());
    s.check_invariants();
    return m;
  }
  std::vector<Msg> send(const Bytes& b) { return take(s.on_bytes(b, now)); }

  template <typename T>
  std::vector<T> pop() {
    std::vector<T> out;
    std::vector<Request> rest;
    for (auto& r : requests) {
      if (auto* t = std::get_if<T>(&r)) {
        out.push_back(*t);
      } else {
        rest.push_back(std::move(r));
      }
    }
    requests = std::move(rest);
    return out;
  }

  // Startup through ReadyForQuery.
  void login() {
    auto m = send(test::startup(good_params()));
    REQUIRE(m.empty());
    auto open = pop<OpenTimeline>();
    REQUIRE(open.size() == 1);
    CHECK(open[0].ref.tenant_id == kTenant);
    CHECK(open[0].ref.timeline_id == "fedcba9876543210fedcba9876543210");  // lower-cased
    CHECK(open[0].user == "postgres");
    CHECK(open[0].application_name == "pg_receivewal");
    auto r = take(s.on_opened(info, now));
    REQUIRE(!r.empty());
    CHECK(r.front().type == 'R');
    CHECK(r.back().type == 'Z');
    CHECK(s.phase() == Session::Phase::kCommands);
  }

  std::vector<Msg> q(const std::string& text) { return send(test::query(text)); }

  // Answers every outstanding ReadWal with the pattern bytes, `max_bytes` at most.
  std::vector<Msg> serve_reads(std::uint64_t max_bytes = ~0ull) {
    std::vector<Msg> out;
    for (int i = 0; i < 100000; ++i) {
      auto reads = pop<ReadWal>();
      if (reads.empty()) return out;
      REQUIRE(reads.size() == 1);
      const ReadWal& r = reads[0];
      REQUIRE(r.to > r.from);
      REQUIRE(r.to <= s.commit_lsn());  // never beyond the commit LSN
      std::uint64_t n = std::min<std::uint64_t>(r.to - r.from, max_bytes);
      Bytes b(n);
      for (std::uint64_t k = 0; k < n; ++k) b[k] = wal_byte(r.from.value() + k);
      auto m = take(s.on_wal(r.stream, r.from, std::move(b), now));
      out.insert(out.end(), m.begin(), m.end());
    }
    FAIL("reads did not stop");
    return out;
  }
};

// Checks XLogData messages are contiguous from `start`, carry the pattern and
// the current commit LSN as walEnd; returns the end.
std::uint64_t check_xlog(const std::vector<Msg>& msgs, std::uint64_t start, std::uint64_t commit) {
  std::uint64_t pos = start;
  for (const Msg& m : msgs) {
    if (m.type != 'd' || m.body[0] != 'w') continue;
    REQUIRE(m.body.size() > 25);
    CHECK(test::rd64(m.body.data() + 1) == pos);
    CHECK(test::rd64(m.body.data() + 9) <= commit);
    std::uint64_t n = m.body.size() - 25;
    CHECK(n <= 128 * 1024);
    for (std::uint64_t k = 0; k < n; k += 997) REQUIRE(m.body[25 + k] == wal_byte(pos + k));
    pos += n;
  }
  return pos;
}

TEST_CASE("startup: SSLRequest and GSSENCRequest answered 'N', then parameters the clients check") {
  Harness h;
  auto n = h.take(h.s.on_bytes(test::code_packet(80877103), h.now), /*ssl=*/true);
  REQUIRE(n.size() == 1);
  n = h.take(h.s.on_bytes(test::code_packet(80877104), h.now), true);
  REQUIRE(n.size() == 1);
  h.login();
  std::map<std::string, std::string> params;
  for (const Msg& m : h.msgs) {
    if (m.type != 'S') continue;
    std::string all(m.body.begin(), m.body.end());
    params[all.substr(0, all.find('\0'))] = all.substr(all.find('\0') + 1, all.size() - all.find('\0') - 2);
  }
  CHECK(params["integer_datetimes"] == "on");
  CHECK(params["server_version"].rfind("15.", 0) == 0);
  CHECK(params["application_name"] == "pg_receivewal");
  CHECK(test::types(h.msgs).find('K') != std::string::npos);
  // A second SSLRequest after startup is not a startup packet any more.
  CHECK(!h.closed);
}

TEST_CASE("startup refusals: each FATAL names what is wrong and closes") {
  struct Case {
    std::vector<std::pair<std::string, std::string>> params;
    std::string sqlstate;
    std::string needle;
  };
  auto without = [](std::string key) {
    auto p = good_params();
    std::erase_if(p, [&](auto& kv) { return kv.first == key; });
    return p;
  };
  auto with = [](std::string key, std::string value) {
    auto p = good_params();
    for (auto& kv : p) {
      if (kv.first == key) kv.second = value;
    }
    return p;
  };
  std::vector<Case> cases = {
      {without("options"), "08004", "does not name its timeline: tenant_id and timeline_id missing"},
      {with("options", "-c tenant_id=" + kTenant), "08004", "timeline_id missing"},
      {with("options", "-c tenant_id=xyz -c timeline_id=" + kTimeline), "08004",
       "tenant_id \"xyz\" is not 32 hex digits"},
      {with("options", "--foo"), "08004", "is not of the form name=value"},
      {with("options", "-x"), "08004", "unsupported startup option \"-x\""},
      {with("options", "-c"), "08004", "no setting after it"},
      {without("replication"), "0A000", "serves only physical replication connections"},
      {with("replication", "off"), "0A000", "not replication=false"},
      {with("replication", "maybe"), "22023", "invalid value for parameter \"replication\""},
      {without("user"), "28000", "no PostgreSQL user name"},
  };
  for (const Case& c : cases) {
    Harness h;
    auto m = h.send(test::startup(c.params));
    INFO(c.needle);
    REQUIRE(m.size() == 1);
    CHECK(m[0].type == 'E');
    auto f = m[0].fields();
    CHECK(f['S'] == "FATAL");
    CHECK(f['C'] == c.sqlstate);
    CHECK(f['M'].find(c.needle) != std::string::npos);
    CHECK(h.closed);
    CHECK(h.requests.empty());
    // Input after close is ignored.
    CHECK(h.send(test::query("IDENTIFY_SYSTEM")).empty());
  }
}

TEST_CASE("startup accepts replication=database, yes/1/on, options with escapes and other settings") {
  for (std::string v : {"database", "yes", "1", "on", "TRUE", "t"}) {
    Harness h;
    auto p = good_params();
    p[2].second = v;
    p[4].second = "-c statement_timeout=0 -ctenant_id=" + kTenant + " --timeline-id=" + kTimeline +
                  " -c x=a\\ b";
    h.send(test::startup(p));
    INFO(v);
    CHECK(h.pop<OpenTimeline>().size() == 1);
    CHECK(!h.closed);
  }
}

TEST_CASE("open failure is FATAL with the host's message; kNotFound is 3D000") {
  Harness h;
  h.send(test::startup(good_params()));
  auto m = h.take(h.s.on_opened(base::Unexpected{base::ErrorCode::kNotFound, "no such timeline"}, h.now));
  REQUIRE(m.size() == 1);
  CHECK(m[0].fields()['C'] == "3D000");
  CHECK(m[0].fields()['M'] == "no such timeline");
  CHECK(h.closed);
}

TEST_CASE("bad startup framing: short length, oversized length, protocol 2, cancel") {
  {
    Harness h;
    auto m = h.send(Bytes{0, 0, 0, 2, 1, 2, 3});
    REQUIRE(m.size() == 1);
    CHECK(m[0].fields()['M'].find("invalid length of startup packet") != std::string::npos);
    CHECK(h.closed);
  }
  {
    Harness h;
    auto m = h.send(Bytes{0, 0, 0x40, 0});
    REQUIRE(m.size() == 1);
    CHECK(h.closed);
  }
  {
    Harness h;
    Bytes c;
    test::be32(c, 16);
    test::be32(c, 80877102);
    test::be32(c, 1);
    test::be32(c, 1);
    CHECK(h.send(c).empty());
    CHECK(h.closed);
  }
  {
    Harness h;  // two SSLRequests
    h.take(h.s.on_bytes(test::code_packet(80877103), h.now), true);
    auto m = h.send(test::code_packet(80877103));
    REQUIRE(m.size() == 1);
    CHECK(m[0].fields()['M'] == "SSLRequest sent twice");
  }
}

TEST_CASE("commands sent before the host answered are served after it") {
  Harness h;
  Bytes all = test::startup(good_params());
  Bytes q1 = test::query("IDENTIFY_SYSTEM");
  Bytes q2 = test::query("SHOW wal_segment_size");
  all.insert(all.end(), q1.begin(), q1.end());
  all.insert(all.end(), q2.begin(), q2.end());
  CHECK(h.send(all).empty());
  REQUIRE(h.pop<OpenTimeline>().size() == 1);
  auto m = h.take(h.s.on_opened(h.info, h.now));
  std::string t = test::types(m);
  CHECK(t.substr(t.size() - 8) == "TDCZTDCZ");
  auto id = m[m.size() - 7].row();
  REQUIRE(id.size() == 4);
  CHECK(*id[0] == "7711695614745811569");
  CHECK(*id[1] == "1");
  CHECK(*id[2] == "0/10003E8");
  CHECK(!id[3]);
  CHECK(m[m.size() - 8].columns() == std::vector<std::string>{"systemid", "timeline", "xlogpos", "dbname"});
  CHECK(*m[m.size() - 3].row()[0] == "16MB");
}

TEST_CASE("SHOW values and unknown parameters") {
  Harness h;
  h.info.wal_seg_size = 1ull << 30;
  h.login();
  CHECK(*h.q("SHOW wal_segment_size")[1].row()[0] == "1GB");
  CHECK(*h.q("SHOW data_directory_mode")[1].row()[0] == "0700");
  CHECK(*h.q("SHOW server_version_num")[1].row()[0] == "150000");
  CHECK(h.q("SHOW WAL_BLOCK_SIZE")[0].columns()[0] == "wal_block_size");
  auto m = h.q("SHOW shared_buffers");
  CHECK(test::types(m) == "EZ");
  CHECK(m[0].fields()['C'] == "42704");
  CHECK(m[0].fields()['S'] == "ERROR");
  CHECK(!h.closed);
}

TEST_CASE("SQL, lower-case keywords, syntax errors: ERROR then ReadyForQuery, session goes on") {
  Harness h;
  h.login();
  auto a = h.q("SELECT 1");
  CHECK(test::types(a) == "EZ");
  CHECK(a[0].fields()['C'] == "0A000");
  auto b = h.q("identify_system");
  CHECK(b[0].fields()['C'] == "0A000");
  auto c = h.q("START_REPLICATION nowhere");
  CHECK(c[0].fields()['C'] == "42601");
  auto d = h.send(test::typed('P', Bytes{0, 0, 0, 0, 0}));
  CHECK(test::types(d) == "EZ");
  CHECK(d[0].fields()['M'].find("message type 'P' is not supported") != std::string::npos);
  auto e = h.send(test::typed('d', Bytes{'r'}));
  CHECK(e[0].fields()['M'].find("no COPY is in progress") != std::string::npos);
  CHECK(test::types(h.q("IDENTIFY_SYSTEM")) == "TDCZ");
  CHECK(!h.closed);
}

TEST_CASE("TIMELINE_HISTORY: T, E 58P01, Z without a file; the file for tli > 1") {
  Harness h;
  h.login();
  auto m = h.q("TIMELINE_HISTORY 1");
  CHECK(test::types(m) == "TEZ");
  CHECK(m[1].fields()['C'] == "58P01");
  Harness h2;
  h2.info.tli = 2;
  h2.info.history = "1\t0/4003A78\tno recovery target specified\n";
  h2.login();
  auto m2 = h2.q("TIMELINE_HISTORY 2");
  REQUIRE(test::types(m2) == "TDCZ");
  auto row = m2[1].row();
  CHECK(*row[0] == "00000002.history");
  CHECK(*row[1] == h2.info.history);
  // Asking for timeline 1 of a timeline-2 server: not in its history.
  auto m3 = h2.q("START_REPLICATION 0/1000000 TIMELINE 1");
  CHECK(test::types(m3) == "EZ");
  CHECK(m3[0].fields()['M'] == "requested timeline 1 is not in this server's history");
}

TEST_CASE("streaming: whole-page reads up to the commit LSN only, then a wait, then more") {
  Harness h;
  h.login();
  auto m = h.q("START_REPLICATION 0/1000000 TIMELINE 1");
  CHECK(test::types(m) == "W");
  CHECK(h.s.phase() == Session::Phase::kStreaming);
  auto reads = h.pop<ReadWal>();
  REQUIRE(reads.size() == 1);
  CHECK(reads[0].from == Lsn(kSeg));
  CHECK(reads[0].to == Lsn(kSeg + 1000));  // the commit LSN: less than one message
  h.requests.push_back(reads[0]);
  auto data = h.serve_reads();
  CHECK(check_xlog(data, kSeg, kSeg + 1000) == kSeg + 1000);
  auto waits = h.pop<WaitCommit>();
  REQUIRE(waits.size() == 1);
  CHECK(waits[0].after == Lsn(kSeg + 1000));
  // Repeating the same commit LSN changes nothing.
  CHECK(h.take(h.s.on_commit_lsn(Lsn(kSeg + 1000), h.now)).empty());
  CHECK(h.requests.empty());
  // Commit moves 1 MiB + 5: reads cut at 128 KiB page boundaries.
  std::uint64_t commit2 = kSeg + (1 << 20) + 5;
  h.take(h.s.on_commit_lsn(Lsn(commit2), h.now));
  auto first = h.pop<ReadWal>();
  REQUIRE(first.size() == 1);
  CHECK(first[0].from == Lsn(kSeg + 1000));
  CHECK(first[0].to == Lsn(kSeg + 128 * 1024));  // page-aligned cut
  h.requests.push_back(first[0]);
  auto more = h.serve_reads(50'000);  // short reads are completed by further reads
  CHECK(check_xlog(more, kSeg + 1000, commit2) == commit2);
  CHECK(h.s.sent_lsn() == Lsn(commit2));
  CHECK(h.pop<WaitCommit>().size() == 1);
  // A commit LSN going backwards is ignored.
  CHECK(h.take(h.s.on_commit_lsn(Lsn(kSeg), h.now)).empty());
  CHECK(h.s.commit_lsn() == Lsn(commit2));
}

TEST_CASE("streaming: feedback clamped to the commit LSN, reply on request, hot standby feedback") {
  Harness h;
  h.login();
  h.q("START_REPLICATION SLOT \"s1\" 0/1000000");
  h.serve_reads();
  auto m = h.send(test::status_update(kSeg + 500, kSeg + 400, 0, true));
  REQUIRE(m.size() == 1);
  CHECK(m[0].body[0] == 'k');
  CHECK(m[0].body.size() == 18);
  CHECK(m[0].body[17] == 0);
  auto fb = h.pop<LearnerFeedback>();
  REQUIRE(fb.size() == 1);
  CHECK(*fb[0].slot == "s1");
  CHECK(fb[0].write == Lsn(kSeg + 500));
  CHECK(fb[0].flush == Lsn(kSeg + 400));
  CHECK(fb[0].apply == Lsn(0));
  h.send(test::status_update(5ull << 32, 5ull << 32, 5ull << 32, false));
  fb = h.pop<LearnerFeedback>();
  REQUIRE(fb.size() == 1);
  CHECK(fb[0].flush == Lsn(kSeg + 1000));  // clamped
  CHECK(fb[0].write == Lsn(kSeg + 1000));
  CHECK(fb[0].apply == Lsn(kSeg + 1000));
  Bytes hsf{'h'};
  test::be64(hsf, 0);
  test::be32(hsf, 739);
  test::be32(hsf, 0);
  test::be32(hsf, 0);
  test::be32(hsf, 0);
  CHECK(h.send(test::typed('d', hsf)).empty());
  auto sf = h.pop<StandbyFeedback>();
  REQUIRE(sf.size() == 1);
  CHECK(sf[0].feedback.xmin == 739);
}

TEST_CASE("streaming: CopyDone ends with c, one C, Z; late reads of that stream are dropped") {
  Harness h;
  h.login();
  h.q("START_REPLICATION 0/1000000");
  auto reads = h.pop<ReadWal>();
  REQUIRE(reads.size() == 1);
  auto m = h.send(test::typed('c', {}));
  CHECK(test::types(m) == "cCZ");
  CHECK(m[1].text() == "START_REPLICATION");
  CHECK(h.s.phase() == Session::Phase::kCommands);
  CHECK(h.take(h.s.on_wal(reads[0].stream, reads[0].from, Bytes(10, 1), h.now)).empty());
  // A new stream on the same connection.
  h.q("START_REPLICATION 0/1000000");
  auto reads2 = h.pop<ReadWal>();
  REQUIRE(reads2.size() == 1);
  CHECK(reads2[0].stream != reads[0].stream);
  CHECK(h.take(h.s.on_wal(reads[0].stream, reads[0].from, Bytes(10, 1), h.now)).empty());
}

TEST_CASE("START_REPLICATION beyond the commit LSN: W, E, Z; removed WAL: 58P01 naming the segment") {
  Harness h;
  h.login();
  auto m = h.q("START_REPLICATION 0/1000400");
  CHECK(test::types(m) == "WEZ");
  CHECK(m[1].fields()['M'] ==
        "requested starting point 0/1000400 is ahead of the WAL commit position of this server "
        "0/10003E8");
  CHECK(h.s.phase() == Session::Phase::kCommands);
  h.q("START_REPLICATION 0/1000000");
  auto reads = h.pop<ReadWal>();
  REQUIRE(reads.size() == 1);
  auto e = h.take(h.s.on_wal(reads[0].stream, reads[0].from,
                             base::Unexpected{base::ErrorCode::kNotFound, "below first_lsn"}, h.now));
  CHECK(test::types(e) == "EZ");
  CHECK(e[0].fields()['C'] == "58P01");
  CHECK(e[0].fields()['M'] == "requested WAL segment 000000010000000000000001 has already been removed");
  CHECK(h.s.phase() == Session::Phase::kCommands);
  h.q("START_REPLICATION 0/1000000");
  reads = h.pop<ReadWal>();
  e = h.take(h.s.on_wal(reads[0].stream, reads[0].from,
                        base::Unexpected{base::ErrorCode::kIo, "EIO"}, h.now));
  CHECK(e[0].fields()['M'] == "could not read WAL at 0/1000000: EIO");
  CHECK(!h.closed);
}

TEST_CASE("WAL that failed the host's verification: XX001 naming the LSN, the stream ends") {
  Harness h;
  h.login();
  h.q("START_REPLICATION 0/1000000");
  auto reads = h.pop<ReadWal>();
  REQUIRE(reads.size() == 1);
  auto e = h.take(h.s.on_wal(reads[0].stream, reads[0].from,
                             base::Unexpected{base::ErrorCode::kCorrupt, "WAL damaged at 0/1000100"},
                             h.now));
  CHECK(test::types(e) == "EZ");
  CHECK(e[0].fields()['C'] == "XX001");
  CHECK(e[0].fields()['M'] ==
        "WAL at 0/1000000 failed verification on this server: WAL damaged at 0/1000100");
  CHECK(h.s.phase() == Session::Phase::kCommands);
  CHECK(!h.closed);
}

TEST_CASE("streaming protocol violations are FATAL") {
  for (Bytes bad : {test::typed('d', Bytes{'z'}), test::query("IDENTIFY_SYSTEM"),
                    test::typed('P', {}), test::typed('f', Bytes{'x', 0}),
                    test::typed('d', Bytes{'r', 1, 2})}) {
    Harness h;
    h.login();
    h.q("START_REPLICATION 0/1000000");
    auto m = h.send(bad);
    REQUIRE(m.size() == 1);
    CHECK(m[0].fields()['S'] == "FATAL");
    CHECK(h.closed);
  }
  Harness h;
  h.login();
  h.q("START_REPLICATION 0/1000000");
  CHECK(h.send(test::typed('X', {})).empty());
  CHECK(h.closed);
}

TEST_CASE("keepalives with reply requested while streaming, and the receive timeout") {
  SessionOptions o;
  o.keepalive_interval_us = 10 * kMicrosPerSecond;
  o.receive_timeout_us = 60 * kMicrosPerSecond;
  Harness h(o);
  h.login();
  CHECK(h.take(h.s.on_tick(h.now + 20 * kMicrosPerSecond)).empty());  // not streaming: nothing
  h.now += 20 * kMicrosPerSecond;
  h.q("START_REPLICATION 0/1000000");
  h.serve_reads();
  CHECK(h.take(h.s.on_tick(h.now + 9 * kMicrosPerSecond)).empty());
  auto k = h.take(h.s.on_tick(h.now + 10 * kMicrosPerSecond));
  REQUIRE(k.size() == 1);
  CHECK(k[0].body[0] == 'k');
  CHECK(k[0].body[17] == 1);
  CHECK(test::rd64(k[0].body.data() + 1) == kSeg + 1000);
  // A reply keeps the connection alive past the timeout of the stream start.
  h.now += 50 * kMicrosPerSecond;
  h.send(test::status_update(0, 0, 0, false));
  h.take(h.s.on_tick(h.now + 59 * kMicrosPerSecond));
  CHECK(!h.closed);
  h.take(h.s.on_tick(h.now + 60 * kMicrosPerSecond));
  CHECK(h.closed);
  CHECK(h.close_reason.find("replication timeout") != std::string::npos);
}

TEST_CASE("shutdown: COPY 0 while streaming, FATAL 57P01 otherwise") {
  Harness a;
  a.login();
  a.q("START_REPLICATION 0/1000000");
  auto m = a.take(a.s.on_shutdown(a.now));
  REQUIRE(test::types(m) == "C");
  CHECK(m[0].text() == "COPY 0");
  CHECK(a.closed);
  Harness b;
  b.login();
  auto e = b.take(b.s.on_shutdown(b.now));
  REQUIRE(test::types(e) == "E");
  CHECK(e[0].fields()['C'] == "57P01");
  CHECK(b.closed);
  CHECK(b.take(b.s.on_shutdown(b.now)).empty());
}

TEST_CASE("startup timeout") {
  Harness h;
  h.take(h.s.on_tick(0));
  h.send(Bytes{0, 0});
  h.take(h.s.on_tick(59 * kMicrosPerSecond));
  CHECK(!h.closed);
  h.take(h.s.on_tick(60 * kMicrosPerSecond + 1'000'000));
  CHECK(h.closed);
}

TEST_CASE("READ_REPLICATION_SLOT: the host's position with the TLI, or NULLs; input waits meanwhile") {
  Harness h;
  h.login();
  Bytes two = test::query("READ_REPLICATION_SLOT s1");
  Bytes id = test::query("IDENTIFY_SYSTEM");
  two.insert(two.end(), id.begin(), id.end());
  CHECK(h.send(two).empty());
  auto rs = h.pop<ReadSlot>();
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].slot == "s1");
  auto m = h.take(h.s.on_slot(Lsn(0x2000000), h.now));
  REQUIRE(test::types(m) == "TDCZTDCZ");
  auto row = m[1].row();
  CHECK(*row[0] == "physical");
  CHECK(*row[1] == "0/2000000");
  CHECK(*row[2] == "1");
  h.q("READ_REPLICATION_SLOT s2");
  auto none = h.take(h.s.on_slot(std::nullopt, h.now))[1].row();
  CHECK(*none[0] == "physical");
  CHECK(!none[1]);
  CHECK(!none[2]);
}

TEST_CASE("CREATE_REPLICATION_SLOT and DROP_REPLICATION_SLOT") {
  Harness h;
  h.login();
  auto c = h.q("CREATE_REPLICATION_SLOT \"s1\" PHYSICAL");
  REQUIRE(test::types(c) == "TDCZ");
  auto row = c[1].row();
  CHECK(*row[0] == "s1");
  CHECK(*row[1] == "0/0");
  CHECK(!row[2]);
  auto d = h.q("DROP_REPLICATION_SLOT \"s1\"");
  CHECK(test::types(d) == "CZ");
  auto drops = h.pop<DropSlot>();
  REQUIRE(drops.size() == 1);
  CHECK(drops[0].slot == "s1");
}

TEST_CASE("unanswered input is bounded") {
  SessionOptions o;
  o.input_bytes_max = 4096;
  Harness h(o);
  h.send(test::startup(good_params()));  // now waiting for the host
  Bytes q = test::query(std::string(1000, 'x'));
  for (int i = 0; i < 4; ++i) h.send(q);
  CHECK(!h.closed);
  auto m = h.send(q);
  REQUIRE(m.size() == 1);
  CHECK(m[0].fields()['C'] == "54000");
  CHECK(h.closed);
}

TEST_CASE("the same conversation in random chunks gives the same bytes") {
  Bytes conv = test::startup(good_params());
  for (const char* q : {"IDENTIFY_SYSTEM", "SHOW wal_segment_size", "SELECT 1", "TIMELINE_HISTORY 1",
                        "START_REPLICATION 0/1000000"}) {
    Bytes b = test::query(q);
    conv.insert(conv.end(), b.begin(), b.end());
  }
  auto run = [&](std::mt19937_64* rng) {
    Harness h;
    Bytes out;
    std::size_t i = 0;
    bool opened = false;
    while (i < conv.size()) {
      std::size_t n = rng ? 1 + (*rng)() % 17 : conv.size();
      n = std::min(n, conv.size() - i);
      Output o = h.s.on_bytes(std::span(conv).subspan(i, n), h.now);
      i += n;
      out.insert(out.end(), o.bytes.begin(), o.bytes.end());
      for (auto& r : o.requests) {
        if (std::holds_alternative<OpenTimeline>(r)) opened = true;
      }
      if (opened && h.s.phase() == Session::Phase::kOpening) {
        Output a = h.s.on_opened(h.info, h.now);
        out.insert(out.end(), a.bytes.begin(), a.bytes.end());
      }
    }
    return out;
  };
  Bytes whole = run(nullptr);
  std::string kinds = test::types(test::split(whole));
  REQUIRE(kinds.size() > 14);
  CHECK(kinds.substr(kinds.size() - 14) == "TDCZTDCZEZTEZW");
  CHECK(kinds.substr(0, 1) == "R");
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    std::mt19937_64 rng(seed);
    CHECK(run(&rng) == whole);
  }
}

TEST_CASE("parse_timeline_options") {
  auto r = parse_timeline_options("-c tenant_id=" + kTenant + " -c timeline_id=" + kTimeline);
  REQUIRE(r.has_value());
  CHECK(r->tenant_id == kTenant);
  CHECK(r->timeline_id == "fedcba9876543210fedcba9876543210");
  CHECK(parse_timeline_options("").error().message.find("tenant_id and timeline_id missing") !=
        std::string::npos);
  CHECK(!parse_timeline_options("-c tenant_id=" + kTenant + "0 -c timeline_id=" + kTimeline));
}

}  // namespace
}  // namespace wq::pgwire
