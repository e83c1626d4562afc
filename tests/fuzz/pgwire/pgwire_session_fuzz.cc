// libFuzzer target for src/pgwire's pure layer: the startup-packet, frontend
// message, CopyData and command decoders on the raw input, then a Session
// driven by an input-chosen sequence of events (client bytes, canned client
// messages, host answers to its requests, commit LSN moves, time, EOF) with
// a fake host that checks what the session produces:
//  - every output splits into well-formed backend messages;
//  - XLogData is contiguous within a stream, never carries a
//    byte at or beyond the commit LSN, and its walEnd is at most that LSN;
//  - a ReadWal never reaches beyond the commit LSN and at most one is
//    outstanding; learner feedback never exceeds the commit LSN;
//  - Session::check_invariants() holds after every input.
// Input layout: [event opcode, operands...]*; see the switch below.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "pgwire/command.h"
#include "pgwire/messages.h"
#include "pgwire/session.h"

namespace {

using wq::pgwire::Lsn;
namespace pg = wq::pgwire;
using Bytes = std::vector<std::uint8_t>;

void be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
void be64(Bytes& b, std::uint64_t v) {
  be32(b, static_cast<std::uint32_t>(v >> 32));
  be32(b, static_cast<std::uint32_t>(v));
}
std::uint32_t rd32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
std::uint64_t rd64(const std::uint8_t* p) { return (std::uint64_t{rd32(p)} << 32) | rd32(p + 4); }

Bytes typed(char type, const Bytes& body) {
  Bytes out{static_cast<std::uint8_t>(type)};
  be32(out, static_cast<std::uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
Bytes query(const std::string& text) {
  Bytes body(text.begin(), text.end());
  body.push_back(0);
  return typed('Q', body);
}

Bytes canned(std::uint8_t which) {
  switch (which % 12) {
    case 0: {
      Bytes body;
      be32(body, 196608);
      for (const char* kv : {"user", "u", "replication", "true", "options",
                             "-c tenant_id=0123456789abcdef0123456789abcdef -c "
                             "timeline_id=0123456789abcdef0123456789abcdef"}) {
        body.insert(body.end(), kv, kv + std::char_traits<char>::length(kv) + 1);
      }
      body.push_back(0);
      Bytes out;
      be32(out, static_cast<std::uint32_t>(body.size() + 4));
      out.insert(out.end(), body.begin(), body.end());
      return out;
    }
    case 1: return query("IDENTIFY_SYSTEM");
    case 2: return query("START_REPLICATION 0/1000000 TIMELINE 1");
    case 3: return query("START_REPLICATION SLOT \"s\" PHYSICAL 0/1000010");
    case 4: {
      Bytes p{'r'};
      be64(p, 0x1000100);
      be64(p, 0xFFFFFFFFFFFFull);
      be64(p, 0);
      be64(p, 0);
      p.push_back(1);
      return typed('d', p);
    }
    case 5: return typed('c', {});
    case 6: {
      Bytes p{'h'};
      be64(p, 0);
      be64(p, 0);
      be64(p, 0);
      return typed('d', p);
    }
    case 7: return query("READ_REPLICATION_SLOT s");
    case 8: {
      Bytes out;
      be32(out, 8);
      be32(out, 80877103);
      return out;
    }
    case 9: return query("SHOW wal_segment_size");
    case 10: return query("TIMELINE_HISTORY 1");
    default: return typed('X', {});
  }
}

struct Host {
  pg::Session session;
  std::int64_t now = 0;
  Lsn commit{0x1000000 + 100};
  std::deque<pg::ReadWal> reads;
  bool open_pending = false;
  bool slot_pending = false;
  bool closed = false;
  bool streaming_seen = false;  // a 'W' started a stream
  bool first_data = false;
  Lsn next_data;                // where the next XLogData must start

  Host() : session(options()) {}
  static pg::SessionOptions options() {
    pg::SessionOptions o;
    o.send_bytes_max = 16 * 1024;
    o.input_bytes_max = 64 * 1024;
    return o;
  }

  void check_output(pg::Output out) {
    std::span<const std::uint8_t> b(out.bytes);
    std::size_t i = 0;
    while (i < b.size()) {
      if (b[i] == 'N') {  // the one-byte answer to SSLRequest/GSSENCRequest
        ++i;
        continue;
      }
      WQ_ASSERT(b.size() - i >= 5, "truncated backend message");
      std::uint32_t len = rd32(b.data() + i + 1);
      WQ_ASSERT(len >= 4 && b.size() - i - 1 >= len, "bad backend message length {}", len);
      char type = static_cast<char>(b[i]);
      const std::uint8_t* body = b.data() + i + 5;
      std::size_t body_len = len - 4;
      if (type == 'W') {
        streaming_seen = true;
        first_data = true;  // the stream's first XLogData may start anywhere
      }
      if (type == 'd') {
        WQ_ASSERT(body_len >= 1, "empty CopyData");
        if (body[0] == 'w') {
          WQ_ASSERT(body_len >= 25, "short XLogData");
          Lsn start(rd64(body + 1));
          Lsn wal_end(rd64(body + 9));
          std::uint64_t n = body_len - 25;
          WQ_ASSERT(streaming_seen, "XLogData outside a stream");
          WQ_ASSERT(first_data || start == next_data, "XLogData at {}, expected {}", start,
                    next_data);
          first_data = false;
          WQ_ASSERT(start + n <= commit, "XLogData [{}, {}) beyond commit {}", start, start + n,
                    commit);
          WQ_ASSERT(wal_end <= commit, "walEnd {} beyond commit {}", wal_end, commit);
          next_data = start + n;
        } else {
          WQ_ASSERT(body[0] == 'k' && body_len == 18, "CopyData subtype {}", body[0]);
        }
      }
      i += 1 + len;
    }
    for (auto& r : out.requests) {
      std::visit(
          [&](auto& req) {
            using T = std::decay_t<decltype(req)>;
            if constexpr (std::is_same_v<T, pg::OpenTimeline>) {
              WQ_ASSERT(!open_pending, "two opens");
              open_pending = true;
            } else if constexpr (std::is_same_v<T, pg::ReadWal>) {
              WQ_ASSERT(req.to <= commit && req.from < req.to, "read [{}, {}) commit {}", req.from,
                        req.to, commit);
              for (const auto& r2 : reads) {
                WQ_ASSERT(r2.stream != req.stream, "two reads outstanding for one stream");
              }
              reads.push_back(req);
            } else if constexpr (std::is_same_v<T, pg::LearnerFeedback>) {
              WQ_ASSERT(req.flush <= commit && req.write <= commit && req.apply <= commit,
                        "feedback beyond commit");
            } else if constexpr (std::is_same_v<T, pg::ReadSlot>) {
              slot_pending = true;
            }
          },
          r);
    }
    if (out.close) closed = true;
    session.check_invariants();
  }

  void feed(std::span<const std::uint8_t> bytes) { check_output(session.on_bytes(bytes, now)); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> all(data, size);
  // The decoders alone, on the raw input.
  (void)pg::decode_startup_packet(all);
  (void)pg::decode_copy_message(all);
  if (size > 0) (void)pg::decode_frontend_message(static_cast<char>(data[0]), all.subspan(1));
  (void)pg::parse_command(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)pg::parse_timeline_options(std::string_view(reinterpret_cast<const char*>(data), size));

  Host h;
  std::size_t i = 0;
  auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  for (int events = 0; i < size && events < 4096; ++events) {
    std::uint8_t op = next();
    switch (op % 8) {
      case 0: {  // raw client bytes
        std::size_t len = next();  // read before `size - i`: argument order is unspecified
        std::size_t n = std::min<std::size_t>(len, size - i);
        h.feed(all.subspan(i, n));
        i += n;
        break;
      }
      case 1:  // host answers the open
        if (h.open_pending) {
          h.open_pending = false;
          if (next() % 4 == 0) {
            h.check_output(h.session.on_opened(wq::base::Unexpected{wq::base::ErrorCode::kNotFound,
                                                                    "no such timeline"},
                                               h.now));
          } else {
            pg::TimelineInfo info;
            info.system_id = 42;
            info.wal_seg_size = 16 * 1024 * 1024;
            info.commit_lsn = h.commit;
            h.check_output(h.session.on_opened(info, h.now));
          }
        }
        break;
      case 2:  // host answers the oldest read
        if (!h.reads.empty()) {
          pg::ReadWal r = h.reads.front();
          h.reads.pop_front();
          std::uint8_t how = next();
          std::uint64_t want = r.to - r.from;
          if (how % 4 == 0) {
            h.check_output(h.session.on_wal(r.stream, r.from, Bytes(want, 0xAB), h.now));
          } else if (how % 4 == 1) {
            h.check_output(h.session.on_wal(r.stream, r.from, Bytes((want + 1) / 2, 0xCD), h.now));
          } else {
            auto code = how % 4 == 2 ? wq::base::ErrorCode::kNotFound : wq::base::ErrorCode::kIo;
            h.check_output(h.session.on_wal(r.stream, r.from, wq::base::Unexpected{code, "gone"},
                                            h.now));
          }
        }
        break;
      case 3: {  // the commit LSN moves forward
        std::uint64_t hi = next();
        std::uint64_t delta = (hi << 12) | next();
        h.commit = h.commit + delta;
        h.check_output(h.session.on_commit_lsn(h.commit, h.now));
        break;
      }
      case 4:  // time passes
        h.now += std::int64_t{next()} * 1'000'000;
        h.check_output(h.session.on_tick(h.now));
        break;
      case 5:  // host answers READ_REPLICATION_SLOT
        if (h.slot_pending) {
          h.slot_pending = false;
          std::uint8_t v = next();
          h.check_output(
              h.session.on_slot(v % 2 ? std::nullopt : std::optional<Lsn>(Lsn(v * 4096)), h.now));
        }
        break;
      case 6:
        h.check_output(h.session.on_eof(h.now));
        break;
      default: {  // a canned client message
        Bytes m = canned(next());
        h.feed(m);
        break;
      }
    }
  }
  return 0;
}
