// Streaming WAL decoder: a small state machine over page headers, record
// starts, record bodies and skipped bytes (padding, a switch's zeroed tail, a
// leading continuation). See decoder.h.
#include "wal/decoder.h"

#include <algorithm>
#include <cstring>

namespace wq::wal {

namespace {
// A record buffer grown past this by a large record is freed at the next record
// start rather than kept for reuse.
constexpr std::size_t kRecordBufferKeepBytes = 1u << 20;
}  // namespace

const char* end_reason_name(EndReason reason) {
  switch (reason) {
    case EndReason::kZeroPage: return "zero page";
    case EndReason::kBadMagic: return "bad magic";
    case EndReason::kStalePageAddr: return "stale pageaddr";
    case EndReason::kBadCrc: return "bad crc";
    case EndReason::kBadLength: return "bad length";
    case EndReason::kBadPrevLink: return "bad prev-link";
    case EndReason::kBadContrecord: return "bad contrecord";
    case EndReason::kBadRmgr: return "bad rmgr";
    case EndReason::kBadHeader: return "bad header";
    case EndReason::kRecordTooLarge: return "record too large";
    case EndReason::kMalformedRecord: return "malformed record";
    case EndReason::kEndOfInput: return "end of input";
  }
  return "unknown";
}

StreamDecoder::StreamDecoder(Lsn start, DecoderOptions options)
    : opt_(options), pos_(start), valid_end_(start) {
  WQ_ASSERT(valid_segment_size(opt_.seg_size), "invalid segment size {}", opt_.seg_size);
  WQ_ASSERT(opt_.max_record_bytes >= kRecordHeaderSize, "max_record_bytes {}",
            opt_.max_record_bytes);
  if (is_page_aligned(start)) {
    state_ = State::kPageHeader;
    skipping_contrecord_ = true;
  } else {
    state_ = State::kRecordStart;
    std::uint32_t hdr = page_header_size_at(page_start(start), opt_.seg_size);
    if (page_offset(start) < hdr || start.value() % kMaxAlign != 0) {
      end_ = EndOfWal{EndReason::kBadHeader, start,
                      fmt::format("invalid record offset at {}", start)};
    }
  }
}

void StreamDecoder::feed(std::span<const std::uint8_t> bytes) {
  if (end_ || bytes.empty()) return;
  if (available() == 0 && pending_.empty()) {
    // The usual case: all earlier input was consumed, so read these bytes in place.
    cur_ = bytes.data();
    cur_size_ = bytes.size();
    cur_off_ = 0;
    cur_owned_ = false;
    in_.clear();
    return;
  }
  if (cur_owned_ && pending_.empty()) {
    // A short tail was kept at NeedMore; these bytes follow it.
    pending_ = bytes;
    return;
  }
  // Fed again before asking for more: own everything unread, then these bytes.
  own_input(pending_.size());
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  cur_ = in_.data();
  cur_size_ = in_.size();
}

void StreamDecoder::own_input(std::size_t more) {
  WQ_ASSERT(more <= pending_.size(), "own {} of {} pending bytes", more, pending_.size());
  if (cur_owned_) {
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(cur_off_));
  } else {
    in_.assign(input(), input() + available());
  }
  in_.insert(in_.end(), pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(more));
  pending_ = pending_.subspan(more);
  cur_ = in_.data();
  cur_size_ = in_.size();
  cur_off_ = 0;
  cur_owned_ = true;
}

void StreamDecoder::consume(std::size_t n) {
  WQ_ASSERT(n <= available(), "consume {} of {}", n, available());
  cur_off_ += n;
  pos_ += n;
}

StreamDecoder::Step StreamDecoder::fail(EndReason reason, Lsn lsn, std::string message) {
  end_ = EndOfWal{reason, lsn, std::move(message)};
  in_.clear();
  in_.shrink_to_fit();
  cur_ = nullptr;
  cur_size_ = 0;
  cur_off_ = 0;
  cur_owned_ = false;
  pending_ = {};
  rec_.clear();
  rec_.shrink_to_fit();
  return DecodeStep(*end_);
}

StreamDecoder::Step StreamDecoder::need_more() {
  if (!pending_.empty()) {
    if (available() == 0) {
      cur_ = pending_.data();
      cur_size_ = pending_.size();
      cur_off_ = 0;
      cur_owned_ = false;
      pending_ = {};
      in_.clear();
    } else {
      // A header straddles the kept tail and the next chunk: join a page of it.
      own_input(std::min<std::size_t>(pending_.size(), kBlockSize));
    }
    return std::nullopt;
  }
  // The caller may reuse its buffer once it sees NeedMore: keep the short tail.
  if (!cur_owned_ && available() > 0) own_input(0);
  if (!finished_) return DecodeStep(NeedMore{});
  if (state_ == State::kRecordBody ||
      (state_ == State::kPageHeader && rec_total_ != 0 && rec_.size() < rec_total_)) {
    return fail(EndReason::kEndOfInput, rec_start_,
                fmt::format("input ended at {} inside the record at {} ({} of {} bytes read)",
                            pos_, rec_start_, rec_.size(), rec_total_));
  }
  return fail(EndReason::kEndOfInput, pos_, fmt::format("input ended at {}", pos_));
}

DecodeStep StreamDecoder::next() {
  if (end_) return *end_;
  // Every pass either consumes input, changes state towards consuming input, or
  // returns; the bound below only catches a bug in that reasoning.
  for (std::uint64_t guard = 0;; ++guard) {
    WQ_ASSERT(guard < (1ull << 40), "decoder made no progress at {}", pos_);
    Step step;
    switch (state_) {
      case State::kSkip: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, available()));
        consume(n);
        skip_ -= n;
        if (skip_ > 0) {
          step = need_more();
        } else {
          state_ = after_skip_;
        }
        break;
      }
      case State::kPageHeader: step = on_page_header(); break;
      case State::kRecordStart: step = on_record_start(); break;
      case State::kRecordBody: step = on_record_body(); break;
    }
    if (step) return std::move(*step);
  }
}

StreamDecoder::Step StreamDecoder::on_page_header() {
  WQ_ASSERT(is_page_aligned(pos_), "page header state at {}", pos_);
  if (available() < kShortPageHeaderSize) return need_more();
  std::uint16_t info = load_u16(input() + 2);
  std::size_t need = (info & XLP_LONG_HEADER) ? kLongPageHeaderSize : kShortPageHeaderSize;
  if (available() < need) return need_more();

  PageCheck check;
  check.seg_size = opt_.seg_size;
  check.expected_sysid = opt_.expected_sysid;
  // Name segments after the configured TLI, else the last good page's (PG uses its reader's TLI).
  check.file_tli = opt_.file_tli != 0 ? opt_.file_tli : last_page_tli_;
  PageFault fault = PageFault::kNone;
  auto hr = decode_page_header(std::span<const std::uint8_t>(input(), need), pos_, check, &fault);
  if (!hr) {
    EndReason reason = EndReason::kBadHeader;
    switch (fault) {
      case PageFault::kZeroHeader: reason = EndReason::kZeroPage; break;
      case PageFault::kBadMagic: reason = EndReason::kBadMagic; break;
      case PageFault::kBadPageAddr: reason = EndReason::kStalePageAddr; break;
      default: break;
    }
    return fail(reason, pos_, hr.error().message);
  }
  const PageHeader& h = *hr;
  if (last_page_lsn_.is_valid() && pos_ > last_page_lsn_ && h.tli < last_page_tli_) {
    std::uint32_t name_tli = opt_.file_tli != 0 ? opt_.file_tli : last_page_tli_;
    return fail(EndReason::kBadHeader, pos_,
                fmt::format("out-of-sequence timeline ID {} (after {}) in log segment {}, offset {}",
                            h.tli, last_page_tli_,
                            segment_file_name(name_tli, segno_of(pos_, opt_.seg_size), opt_.seg_size),
                            segment_offset(pos_, opt_.seg_size)));
  }
  Lsn page_lsn = pos_;
  last_page_lsn_ = pos_;
  last_page_tli_ = h.tli;
  page_header_size_ = h.size();
  consume(h.size());
  std::uint32_t usable = kBlockSize - page_header_size_;

  if (skipping_contrecord_) {
    // XLogFindNextRecord: skip continuation data of a record begun earlier.
    if (h.info & XLP_FIRST_IS_CONTRECORD) {
      if (maxalign(h.rem_len) >= usable) {
        skip_ = usable;
        after_skip_ = State::kPageHeader;
      } else {
        skip_ = maxalign(h.rem_len);
        after_skip_ = State::kRecordStart;
        skipping_contrecord_ = false;
      }
      state_ = State::kSkip;
      return std::nullopt;
    }
    skipping_contrecord_ = false;
    state_ = State::kRecordStart;
    return std::nullopt;
  }

  bool collecting = rec_total_ != 0 && rec_.size() < rec_total_;
  if (collecting) {
    if (h.info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) {
      // The record was abandoned after a crash; a new one begins on this page,
      // and its xl_prev points at the last complete record (reference §7.7).
      rec_.clear();
      rec_total_ = 0;
      state_ = State::kRecordStart;
      return std::nullopt;
    }
    if (!(h.info & XLP_FIRST_IS_CONTRECORD)) {
      return fail(EndReason::kBadContrecord, page_lsn,
                  fmt::format("there is no contrecord flag at {}", page_lsn));
    }
    std::uint64_t expected = rec_total_ - rec_.size();
    if (h.rem_len == 0 || h.rem_len != expected) {
      return fail(EndReason::kBadContrecord, page_lsn,
                  fmt::format("invalid contrecord length {} (expected {}) at {}", h.rem_len,
                              expected, page_lsn));
    }
    state_ = State::kRecordBody;
    return std::nullopt;
  }
  if (h.info & XLP_FIRST_IS_CONTRECORD) {
    return fail(EndReason::kBadContrecord, pos_,
                fmt::format("contrecord is requested by {}", pos_));
  }
  state_ = State::kRecordStart;
  return std::nullopt;
}

StreamDecoder::Step StreamDecoder::check_record_header(const std::uint8_t* hdr) {
  std::uint32_t tot_len = load_u32(hdr);
  if (tot_len < kRecordHeaderSize) {
    return fail(EndReason::kBadLength, rec_start_,
                fmt::format("invalid record length at {}: wanted {}, got {}", rec_start_,
                            kRecordHeaderSize, tot_len));
  }
  std::uint8_t rmid = hdr[17];
  if (!rmgr_id_valid(rmid)) {
    return fail(EndReason::kBadRmgr, rec_start_,
                fmt::format("invalid resource manager ID {} at {}", rmid, rec_start_));
  }
  Lsn prev(load_u64(hdr + 8));
  bool ok;
  if (have_prev_) {
    ok = prev == prev_record_;
  } else if (opt_.expected_prev) {
    ok = prev == *opt_.expected_prev;
  } else {
    ok = prev < rec_start_;
  }
  if (!ok) {
    return fail(EndReason::kBadPrevLink, rec_start_,
                fmt::format("record with incorrect prev-link {} at {}", prev, rec_start_));
  }
  return std::nullopt;
}

StreamDecoder::Step StreamDecoder::on_record_start() {
  if (is_page_aligned(pos_)) {
    state_ = State::kPageHeader;
    return std::nullopt;
  }
  std::size_t page_left = kBlockSize - page_offset(pos_);
  // xl_tot_len is always on the record's first page (an aligned free slot is
  // >= 8 bytes); the rest of the header may spill onto the next page.
  std::size_t need = std::min<std::size_t>(page_left, kRecordHeaderSize);
  if (available() < need) return need_more();
  rec_start_ = pos_;
  rec_header_checked_ = false;
  std::uint32_t tot_len = load_u32(input());
  if (tot_len < kRecordHeaderSize) {
    fail(EndReason::kBadLength, rec_start_,
         fmt::format("invalid record length at {}: wanted {}, got {}", rec_start_,
                     kRecordHeaderSize, tot_len));
    end_->zero_length = tot_len == 0;
    return DecodeStep(*end_);
  }
  if (tot_len > opt_.max_record_bytes) {
    return fail(EndReason::kRecordTooLarge, rec_start_,
                fmt::format("record length {} at {} is above the limit of {} bytes", tot_len,
                            rec_start_, opt_.max_record_bytes));
  }
  if (need == kRecordHeaderSize) {
    if (Step s = check_record_header(input())) return s;
    rec_header_checked_ = true;
  }
  if (tot_len <= page_left && available() >= tot_len) {
    // The whole record lies in this page of the current input: decode it in place.
    std::span<const std::uint8_t> bytes(input(), tot_len);
    consume(tot_len);
    return finish_record(bytes);
  }
  rec_total_ = tot_len;
  rec_.clear();
  if (rec_.capacity() > kRecordBufferKeepBytes) rec_.shrink_to_fit();
  state_ = State::kRecordBody;
  return std::nullopt;
}

StreamDecoder::Step StreamDecoder::on_record_body() {
  while (rec_.size() < rec_total_) {
    if (is_page_aligned(pos_)) {
      state_ = State::kPageHeader;
      return std::nullopt;
    }
    std::size_t page_left = kBlockSize - page_offset(pos_);
    std::size_t n = std::min({static_cast<std::size_t>(rec_total_ - rec_.size()), page_left,
                              available()});
    if (n == 0) return need_more();
    rec_.insert(rec_.end(), input(), input() + n);
    consume(n);
    if (!rec_header_checked_ && rec_.size() >= kRecordHeaderSize) {
      if (Step s = check_record_header(rec_.data())) return s;
      rec_header_checked_ = true;
    }
  }
  return finish_record(rec_);
}

StreamDecoder::Step StreamDecoder::finish_record(std::span<const std::uint8_t> bytes) {
  RecordFault fault = RecordFault::kNone;
  auto r = decode_record(bytes, rec_start_, opt_.seg_size, &fault);
  if (!r) {
    EndReason reason = EndReason::kMalformedRecord;
    switch (fault) {
      case RecordFault::kBadLength: reason = EndReason::kBadLength; break;
      case RecordFault::kBadRmgr: reason = EndReason::kBadRmgr; break;
      case RecordFault::kBadCrc: reason = EndReason::kBadCrc; break;
      default: break;
    }
    return fail(reason, rec_start_, r.error().message);
  }
  DecodedRecord rec = std::move(r).value();
  if (rec.is_switch()) {
    Lsn seg_end = segment_start(segno_of(rec_start_, opt_.seg_size) + 1, opt_.seg_size);
    rec.end_lsn = seg_end;
    skip_ = seg_end - pos_;
  } else {
    rec.end_lsn = maxalign(pos_);
    skip_ = rec.end_lsn - pos_;
  }
  after_skip_ = State::kRecordStart;
  state_ = State::kSkip;
  prev_record_ = rec_start_;
  have_prev_ = true;
  valid_end_ = rec.end_lsn;
  rec_total_ = 0;
  rec.set_bytes(bytes);  // rec_ keeps its capacity for the next record
  return DecodeStep(std::move(rec));
}

}  // namespace wq::wal
