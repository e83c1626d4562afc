// ControlState encoding. See control_codec.h.
#include "storage/control_codec.h"

#include <cstring>

#include <fmt/format.h>

#include "wal/crc32c.h"

namespace wq::storage {

namespace {

using base::ErrorCode;
using base::Unexpected;

constexpr std::size_t kHeaderBytes = 12;  // magic, version, payload_len
constexpr std::size_t kCrcBytes = 4;


class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void bytes(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void put_u32_at(std::size_t pos, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[pos + i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  std::vector<std::uint8_t>& out() { return out_; }

 private:
  std::vector<std::uint8_t> out_;
};

// Bounds-checked little-endian reader; every getter fails once data runs out.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  bool u8(std::uint8_t* v) {
    if (left() < 1) return false;
    *v = in_[pos_++];
    return true;
  }
  bool u32(std::uint32_t* v) {
    if (left() < 4) return false;
    std::uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= static_cast<std::uint32_t>(in_[pos_ + i]) << (8 * i);
    pos_ += 4;
    *v = r;
    return true;
  }
  bool u64(std::uint64_t* v) {
    if (left() < 8) return false;
    std::uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r |= static_cast<std::uint64_t>(in_[pos_ + i]) << (8 * i);
    pos_ += 8;
    *v = r;
    return true;
  }
  bool bytes(std::span<std::uint8_t> out) {
    if (left() < out.size()) return false;
    std::memcpy(out.data(), in_.data() + pos_, out.size());
    pos_ += out.size();
    return true;
  }
  std::size_t left() const { return in_.size() - pos_; }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::uint32_t crc32c(std::span<const std::uint8_t> bytes) {
  return wal::crc32c(bytes.data(), bytes.size());
}

std::vector<std::uint8_t> encode_control(const core::ControlState& s) {
  Writer w;
  w.u32(kControlMagic);
  w.u32(kControlVersion);
  w.u32(0);  // payload_len, patched below
  w.bytes(s.timeline.tenant.bytes);
  w.bytes(s.timeline.timeline.bytes);
  w.u64(s.system_id);
  w.u32(s.wal_seg_size);
  w.u32(s.pg_version);
  w.u64(s.term.value());
  const auto& entries = s.term_history.entries();
  WQ_ASSERT(entries.size() <= kTermHistoryEntriesMax, "term history of {} entries",
            entries.size());
  w.u32(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) {
    w.u64(e.term.value());
    w.u64(e.lsn.value());
  }
  w.u64(s.timeline_start_lsn.value());
  w.u64(s.commit_lsn.value());
  w.u64(s.truncate_lsn.value());
  w.u8(s.corrupt ? 1 : 0);
  w.put_u32_at(8, static_cast<std::uint32_t>(w.out().size() - kHeaderBytes));
  w.u32(crc32c(w.out()));
  return std::move(w.out());
}

base::Result<core::ControlState> decode_control(std::span<const std::uint8_t> bytes,
                                                std::string_view what) {
  auto corrupt = [&](std::string_view why) {
    return Unexpected{ErrorCode::kCorrupt,
                      fmt::format("corrupt control record {} ({} bytes): {}", what,
                                  bytes.size(), why)};
  };
  if (bytes.size() < kHeaderBytes + kCrcBytes) return corrupt("shorter than header and CRC");
  Reader hdr(bytes);
  std::uint32_t magic = 0, version = 0, payload_len = 0;
  (void)hdr.u32(&magic);
  (void)hdr.u32(&version);
  (void)hdr.u32(&payload_len);
  if (magic != kControlMagic) return corrupt(fmt::format("bad magic {:#010x}", magic));
  if (version != kControlVersion) {
    return Unexpected{ErrorCode::kUnsupported,
                      fmt::format("control record {} has format version {}; this build reads "
                                  "version {}",
                                  what, version, kControlVersion)};
  }
  if (static_cast<std::uint64_t>(payload_len) + kHeaderBytes + kCrcBytes != bytes.size()) {
    return corrupt(fmt::format("payload length {} does not match the record size", payload_len));
  }
  std::size_t crc_pos = bytes.size() - kCrcBytes;
  Reader crc_reader(bytes.subspan(crc_pos));
  std::uint32_t stored_crc = 0;
  (void)crc_reader.u32(&stored_crc);
  std::uint32_t actual_crc = crc32c(bytes.first(crc_pos));
  if (stored_crc != actual_crc) {
    return corrupt(fmt::format("CRC mismatch: stored {:#010x}, computed {:#010x}", stored_crc,
                               actual_crc));
  }

  Reader r(bytes.subspan(kHeaderBytes, payload_len));
  core::ControlState s;
  std::uint64_t term = 0, start = 0, commit = 0, truncate = 0;
  std::uint32_t n = 0;
  std::uint8_t corrupt_flag = 0;
  if (!r.bytes(s.timeline.tenant.bytes) || !r.bytes(s.timeline.timeline.bytes) ||
      !r.u64(&s.system_id) || !r.u32(&s.wal_seg_size) || !r.u32(&s.pg_version) ||
      !r.u64(&term) || !r.u32(&n)) {
    return corrupt("payload ends inside the fixed fields");
  }
  if (n > kTermHistoryEntriesMax || n > r.left() / 16) {
    return corrupt(fmt::format("term history claims {} entries, {} payload bytes left", n,
                               r.left()));
  }
  std::vector<core::TermSwitch> entries;
  entries.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint64_t t = 0, l = 0;
    if (!r.u64(&t) || !r.u64(&l)) return corrupt("payload ends inside the term history");
    if (!entries.empty() &&
        (t <= entries.back().term.value() || l < entries.back().lsn.value())) {
      return corrupt(fmt::format("term history entry {} ({}, {:X}) does not follow ({}, {})", i,
                                 t, l, entries.back().term, entries.back().lsn));
    }
    entries.push_back({core::Term{t}, core::Lsn{l}});
  }
  if (!r.u64(&start) || !r.u64(&commit) || !r.u64(&truncate) || !r.u8(&corrupt_flag)) {
    return corrupt("payload ends inside the LSN fields");
  }
  if (r.left() != 0) return corrupt(fmt::format("{} trailing payload bytes", r.left()));
  if (corrupt_flag > 1) return corrupt(fmt::format("corrupt flag is {}, not 0 or 1", corrupt_flag));
  if (!entries.empty() && entries.back().term.value() > term) {
    return corrupt(fmt::format("term history's last term {} exceeds the term {}",
                               entries.back().term, term));
  }
  if (!entries.empty() && entries.front().lsn.value() < start) {
    return corrupt(fmt::format("term history starts at {} below the timeline start {}",
                               entries.front().lsn, core::Lsn{start}));
  }
  s.term = core::Term{term};
  s.term_history = core::TermHistory(std::move(entries));
  s.timeline_start_lsn = core::Lsn{start};
  s.commit_lsn = core::Lsn{commit};
  s.truncate_lsn = core::Lsn{truncate};
  s.corrupt = corrupt_flag == 1;
  return s;
}

}  // namespace wq::storage
