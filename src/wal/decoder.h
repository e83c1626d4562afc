// StreamDecoder: finds and decodes PG15 WAL records in a contiguous byte stream
// fed in arbitrary chunks, across pages and segments, validating page headers,
// continuation flags, xl_prev links and CRCs like PG's xlogreader, and stopping
// at the first thing that is not valid WAL (the end of WAL) with a reason, an
// LSN and PG-like wording (reference §1.2, §1.3, §1.10, §7.3, §7.4, §7.6,
// §7.11). A record that lies inside one page of one fed chunk is decoded and
// handed out in place; only records crossing a page or a chunk are copied.
// Memory is bounded: at most one record (<= max_record_bytes, grown only with
// the bytes received) plus the input it had to copy: under a page when the
// caller drains next() to NeedMore before each feed(), else the unread bytes.
// Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "wal/format.h"
#include "wal/lsn.h"
#include "wal/page.h"
#include "wal/record.h"

namespace wq::wal {

struct DecoderOptions {
  std::uint64_t seg_size = kDefaultSegmentSize;
  // PG16's cap (PG15 has none). The record buffer grows with the bytes
  // received, never to xl_tot_len up front, so a garbage length costs nothing.
  std::uint32_t max_record_bytes = 1020u << 20;
  // true: start is a page boundary (usually a segment start) and the first fed
  // bytes are a page header; a leading continuation is skipped and the first
  // record that begins after it is returned (XLogFindNextRecord). false: start
  // is the LSN of a record (mid-page, after the header), e.g. when resuming.
  // A page-aligned start is always treated as true.
  bool start_is_page_aligned = false;
  // If set, the first record's xl_prev must equal it; otherwise only
  // xl_prev < its own LSN is required (PG's random-access rule).
  std::optional<Lsn> expected_prev;
  std::uint64_t expected_sysid = 0;  // 0: not checked (as pg_waldump)
  std::uint32_t file_tli = 0;        // TLI for segment names in messages; 0: the page's
};

struct NeedMore {};

enum class EndReason {
  kZeroPage,          // page header all zeros (preallocated or zeroed space)
  kBadMagic,          // page magic is not 0xD110
  kStalePageAddr,     // xlp_pageaddr is not the page's LSN (recycled/stale segment)
  kBadCrc,
  kBadLength,         // xl_tot_len < 24 (got 0: the usual end in zeroed space)
  kBadPrevLink,
  kBadContrecord,     // missing/wrong XLP_FIRST_IS_CONTRECORD or xlp_rem_len
  kBadRmgr,
  kBadHeader,         // page header info bits, long-header fields, TLI going down
  kRecordTooLarge,    // xl_tot_len > max_record_bytes
  kMalformedRecord,   // the body does not decode
  kEndOfInput,        // finish() was called with a record or page incomplete
};
const char* end_reason_name(EndReason reason);

struct EndOfWal {
  EndReason reason;
  Lsn lsn;              // where the problem is (record start or page)
  std::string message;  // PG-like, one line
  // kBadLength with xl_tot_len == 0 where a record would start: the usual end
  // of WAL in zeroed space after the last record (PG: "... got 0").
  bool zero_length = false;
};

using DecodeStep = std::variant<DecodedRecord, NeedMore, EndOfWal>;

class StreamDecoder {
 public:
  explicit StreamDecoder(Lsn start, DecoderOptions options = {});

  // Appends the next bytes of the stream (contiguous with what came before).
  // Ignored after the end of WAL was found. The decoder reads the bytes in
  // place: they must stay valid and unchanged until next() returns NeedMore or
  // EndOfWal, or until the next feed() (by then it has copied what it still
  // needs, at most a page). Records returned by next() may view them.
  void feed(std::span<const std::uint8_t> bytes);
  // Declares that no more bytes will come: an incomplete record or page
  // becomes EndOfWal{kEndOfInput}.
  void finish() { finished_ = true; }

  // The next record, NeedMore, or the (sticky) end of WAL. A record's bytes()
  // are valid until the next feed() or next(); DecodedRecord::keep() to hold them.
  DecodeStep next();

  // End LSN of the last good record (start if none yet).
  Lsn end_of_valid_wal() const { return valid_end_; }
  // LSN of the next byte the decoder will consume.
  Lsn position() const { return pos_; }
  // Bytes fed but not yet consumed (for tests of the memory bound).
  std::size_t buffered_input() const { return available() + pending_.size(); }
  std::size_t buffered_record() const { return rec_.size(); }

 private:
  enum class State { kPageHeader, kRecordStart, kRecordBody, kSkip };
  // Each step either returns a DecodeStep to the caller or nullopt to go on.
  using Step = std::optional<DecodeStep>;
  Step fail(EndReason reason, Lsn lsn, std::string message);
  Step need_more();
  std::size_t available() const { return cur_size_ - cur_off_; }
  const std::uint8_t* input() const { return cur_ + cur_off_; }
  void consume(std::size_t n);
  // Makes in_ hold the unconsumed current bytes (and, if given, up to `more`
  // bytes taken from pending_) and the current input.
  void own_input(std::size_t more);
  Step on_page_header();
  Step on_record_start();
  Step on_record_body();
  Step finish_record(std::span<const std::uint8_t> bytes);
  Step check_record_header(const std::uint8_t* hdr);

  DecoderOptions opt_;
  Lsn pos_;
  Lsn valid_end_;
  State state_;
  bool finished_ = false;
  std::optional<EndOfWal> end_;

  // Page state.
  std::uint32_t last_page_tli_ = 0;
  Lsn last_page_lsn_;
  std::uint32_t page_header_size_ = 0;
  bool skipping_contrecord_ = false;  // at a page-aligned start: skip continuation data

  // Record being assembled.
  Lsn rec_start_;
  std::uint32_t rec_total_ = 0;
  bool rec_header_checked_ = false;
  std::vector<std::uint8_t> rec_;
  Lsn prev_record_;             // start of the last good record
  bool have_prev_ = false;      // false: loose xl_prev check (or opt_.expected_prev)

  // Bytes to discard (padding, a switch's tail, a skipped continuation).
  std::uint64_t skip_ = 0;
  State after_skip_ = State::kRecordStart;

  // Input. cur_ is either the caller's fed bytes (borrowed) or in_ (owned: a
  // short tail kept across a NeedMore). pending_ is a fed chunk not yet reached
  // because an owned tail comes before it; it is non-empty only while cur_ is
  // owned, and is emptied before next() returns NeedMore.
  const std::uint8_t* cur_ = nullptr;
  std::size_t cur_size_ = 0;
  std::size_t cur_off_ = 0;
  bool cur_owned_ = false;
  std::span<const std::uint8_t> pending_;
  std::vector<std::uint8_t> in_;
};

}  // namespace wq::wal
