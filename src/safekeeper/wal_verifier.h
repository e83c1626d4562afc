// VerifiedReader: reads committed WAL for someone else (a learner on the
// replication port) and hands out only bytes that belong to records whose CRC
// and page headers were checked, decoding incrementally: one StreamDecoder per
// reader continues from read to read while the reads are contiguous, so each
// byte is decoded once. A read may start anywhere (a learner starts at a
// segment boundary, inside a record): the reader first finds a record start at
// or before it by decoding from earlier page starts (the page header's
// xlp_rem_len skips a continuation; stepping back pages until the first record
// found begins at or before `from`), so the bytes of the record holding `from`
// are checked too. Only when no such start is held (the oldest segment begins
// with the continuation of a removed record, or with the store's synthesized
// headers before the timeline start) are the bytes before the first record
// start checked by their page headers alone.
//
// Below `readable_end` (a record boundary of durable WAL, e.g. the commit LSN)
// everything must decode: where it does not, the read returns the verified
// prefix and a Damage naming where and why, and the caller marks the timeline
// corrupt. Not thread-safe: the safekeeper uses it on its I/O thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "wal/decoder.h"
#include "wal/lsn.h"

namespace wq::safekeeper {

using wal::Lsn;

// WAL that does not decode below an LSN known to be valid WAL.
struct Damage {
  Lsn at;         // where decoding failed (a record start or a page)
  Lsn valid_end;  // end of the last record verified before it (a record boundary); 0 = unknown
  std::string reason;  // the decoder's PG-like message
};

struct VerifiedRead {
  std::vector<std::uint8_t> bytes;  // verified WAL from the read's `from`
  std::optional<Damage> damage;     // set: bytes stop at or before the damage
  // Leading bytes checked by page headers only (their record's start is not held).
  std::uint64_t unverified = 0;
};

class VerifiedReader {
 public:
  // Reads [from, from + out.size()) from storage; returns how many bytes (0 at the end).
  using ReadFn = std::function<base::Result<std::size_t>(Lsn from, std::span<std::uint8_t> out)>;

  explicit VerifiedReader(std::uint64_t seg_size, std::uint64_t chunk_bytes = 128 * 1024);

  // Verified bytes [from, x), from < x ≤ min(to, from + bytes_max), every one
  // inside a record whose CRC matched (or a checked page header), read from
  // `read`, which holds WAL from `first_lsn` (the oldest segment start) up to
  // `readable_end` (a record boundary of valid WAL). Errors: kNotFound below
  // first_lsn, kEndOfData when [from, ...) is not held now (nothing verified
  // yet and readable_end reached), I/O errors from `read`. A Damage comes with
  // the bytes verified before it (maybe none); the next read starts afresh.
  base::Result<VerifiedRead> read(const ReadFn& read, Lsn first_lsn, Lsn from, Lsn to,
                                  Lsn readable_end, std::uint64_t bytes_max);

  // Bytes read from storage since construction (verification overhead checks).
  std::uint64_t bytes_read() const { return bytes_read_; }
  // Bytes handed out whose record start was not held (checked by page headers only).
  std::uint64_t unverified_bytes() const { return unverified_bytes_; }
  // Records whose xl_prev did not name the previous record (CRC valid: not
  // damage; served, decoding restarted there).
  std::uint64_t prev_link_restarts() const { return prev_link_restarts_; }

 private:
  // Finds a record start ≤ from; leaves dec_ decoding from it.
  base::Result<std::optional<Damage>> restart(const ReadFn& read, Lsn first_lsn, Lsn from,
                                              Lsn readable_end);
  // Feeds one more chunk (≤ readable_end) and drains the decoder. False when
  // nothing more can be fed.
  base::Result<bool> feed_chunk(const ReadFn& read, Lsn readable_end);
  void drain();
  void reset();

  std::uint64_t seg_size_;
  std::uint64_t chunk_bytes_;
  std::unique_ptr<wal::StreamDecoder> dec_;
  std::vector<std::uint8_t> buf_;  // bytes [buf_lsn_, fed_) read and fed, not yet handed out
  Lsn buf_lsn_;
  Lsn fed_;
  Lsn verified_;     // bytes below this are inside verified records (or checked headers)
  Lsn first_record_;  // start of the first record the decoder returned
  Lsn next_;         // where the next contiguous read starts
  Lsn keep_from_;    // bytes below this are never handed out: not kept in buf_
  std::uint64_t pending_unverified_ = 0;
  std::optional<Damage> damage_;
  std::uint64_t bytes_read_ = 0;
  std::uint64_t unverified_bytes_ = 0;
  std::uint64_t prev_link_restarts_ = 0;
  Lsn prev_restart_at_;  // a second stop there is damage (xl_prev not even below it)
};

}  // namespace wq::safekeeper
