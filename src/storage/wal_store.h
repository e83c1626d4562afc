// WalStore: the WAL segment files of one timeline on a safekeeper, in
// <data>/timelines/<tenant>/<timeline>/ (ARCHITECTURE.md §3, docs/ON-DISK.md §1).
// The safekeeper's I/O thread executes the acceptor's WriteWal / SyncWal /
// TruncateWal actions and serves reads through it. Not thread-safe: one owner.
//
// Files:
//   <24 hex>            a complete segment (fdatasynced before it got this name)
//   <24 hex>.partial    the segment being written; always full size (like
//                       pg_receivewal's) but sparse: created with ftruncate, and
//                       allocated (zero-filled) in alloc_chunk_bytes steps at least
//                       one chunk ahead of the write position, so a timeline costs
//                       disk for the WAL it holds, not 16 MiB (docs/ON-DISK.md §1)
//   next.prealloc       the next .partial made ahead of time (sparse, first chunk
//                       allocated, fsynced), created once the current segment is
//                       three quarters full, renamed when the WAL crosses into it
// The first segment of a timeline always begins with a valid long page header:
// the proposer's own when its WAL starts at a segment boundary; otherwise the
// store synthesizes headers for the pages before the start, marking the gap as
// the continuation of an earlier record (XLP_FIRST_IS_CONTRECORD, xlp_rem_len
// counting down to the start), so pg_waldump -s <start> (and a decoder started
// at the segment boundary) skip straight to the first real record.
//
// No "truncation pending" mark is needed: truncate() zeroes and syncs the page
// after the cut before it touches anything else, and a restart always runs
// find_end_of_wal + cut_torn_tail, which finishes an interrupted truncation.
//
// Durability contract: write() is NOT durable; sync() makes everything written
// durable (fdatasync of each file written since the last sync, then the renames
// of completed segments and a directory fsync). truncate() is durable on return.
// A failed fsync or a failed write other than ENOSPC ends the process
// (fatal_io). ENOSPC is kNoSpace: the append is refused, reads keep working.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"
#include "storage/io.h"
#include "wal/decoder.h"
#include "wal/lsn.h"

namespace wq::storage {

using wal::Lsn;

struct WalStoreOptions {
  std::uint64_t seg_size = 16 * 1024 * 1024;  // a valid PostgreSQL segment size
  std::uint32_t tli = 1;                      // the TLI in file names and synthesized headers
  std::uint64_t system_id = 0;                // xlp_sysid of synthesized long headers
  // Preallocate by writing zeros (true, like PostgreSQL) or with posix_fallocate.
  // Written zeros make later fdatasyncs cheaper: no unwritten-extent conversion.
  bool zero_fill = true;
  // Create next.prealloc once the current segment is three quarters full
  // (true), so that crossing into the next segment is a rename and its first
  // chunk is already allocated. The creation runs inside that write() (a sparse
  // file, one chunk of zeros, fsync); a daemon that wants it off the append path
  // sets false and calls preallocate_next() when its I/O thread is idle.
  bool preallocate_ahead = true;
  // Allocation ahead of the write position: a write that ends past a segment's
  // allocated prefix allocates up to the next multiple of this beyond its end,
  // so one allocation (and its metadata commit at the next fdatasync) serves a
  // whole chunk of appends. Zero-filled when zero_fill, else posix_fallocate.
  std::uint64_t alloc_chunk_bytes = 1024 * 1024;
  // Free space kept for metadata: an allocation that would leave the filesystem
  // with less than this free is refused with kNoSpace (checked once per chunk,
  // statvfs). Without it, the space the control store frees by releasing its
  // reserve (control_store.h) would be taken by the next WAL chunk, and the next
  // control-state write would hit ENOSPC (fatal). 0 turns the check off.
  std::uint64_t keep_free_bytes = 8 * 1024 * 1024;
  // Tests only: truncate() ends the process (_exit(0)) right after its first,
  // crash-safety step, to check what a crash in the middle leaves behind.
  bool test_exit_after_first_truncate_step = false;
};

// Result of the restart scan (find_end_of_wal).
struct RecoveryScan {
  Lsn from;     // where decoding started
  Lsn end;      // end of the last valid record: the durable, record-aligned end of WAL
  // Why decoding stopped at `end`: a zero tail (preallocated space), a missing
  // segment file, or bytes that are not valid WAL (a torn write, stale bytes).
  enum class Stop { kZeroTail, kMissingSegment, kInvalidData };
  Stop stop = Stop::kZeroTail;
  Lsn stop_lsn;         // where the decoder found the problem
  std::string reason;   // PG-like wording from the decoder
  std::uint64_t records = 0;  // records decoded
};
const char* stop_name(RecoveryScan::Stop stop);

class WalStore {
 public:
  using Options = WalStoreOptions;

  // Opens (creating if needed) `dir`. Existing segments are fsynced once so
  // everything found on disk may be treated as flushed. A store that holds
  // segments needs find_end_of_wal() before write/truncate/read (the end of WAL
  // is not stored anywhere: it is found by decoding). Errors: kIo, kNoSpace,
  // kInvalidArgument (bad options, foreign files with segment names of another
  // TLI are ignored), kCorrupt (both X and X.partial exist).
  static base::Result<WalStore> open(const std::string& dir, WalStoreOptions options);

  WalStore(WalStore&&) noexcept = default;
  WalStore& operator=(WalStore&&) noexcept = default;
  ~WalStore() = default;

  // True if no segment exists: the next write() or truncate() starts the WAL.
  bool empty() const { return segments_.empty(); }
  // True once the end of WAL is known (empty store, or after find_end_of_wal).
  bool ready() const { return ready_; }

  // Appends bytes at `begin`, which must equal write_lsn() (or, on an empty
  // store, is where the WAL starts: the first segment gets its headers). Not
  // durable. Errors: kInvalidArgument for a non-sequential write (nothing
  // written), kNoSpace when the disk is full (write_lsn() unchanged; bytes
  // partly written past it are garbage above the end and get overwritten).
  base::Status write(Lsn begin, std::span<const std::uint8_t> bytes);

  // Makes every byte written so far durable; flush_lsn() == write_lsn() after.
  // A no-op on a store that is not ready() (nothing can have been written).
  void sync();

  // Durably cuts the WAL at `at` (a record boundary, first_lsn() <= at <=
  // write_lsn()): every byte at and after `at` reads as zero, later segments are
  // gone, the segment holding `at` is again a full-size .partial. If `at` lies
  // below wal_start() (the acceptor joined at a later point than where its new
  // proposer diverges), or above write_lsn() while the store holds no record
  // yet (write_lsn() == wal_start()), every segment is removed and the WAL
  // restarts at `at` with freshly synthesized headers. Crash-safe:
  // the rest of the page holding `at` (and the next page when `at` is at a page
  // end) is zeroed and synced first, so no stale bytes after `at` can ever
  // decode as WAL following the record that ends at `at`. On an empty store,
  // `at` becomes the start of the WAL. Errors only on ENOSPC (kNoSpace) while
  // creating the first segment.
  base::Status truncate(Lsn at);

  // Copies WAL bytes [from, min(from + out.size(), write_lsn())) into out and
  // returns how many. Works when appends fail for lack of space. Errors:
  // kNotFound (below first_lsn(): removed), kIo, kCorrupt if not ready() (the
  // restart scan failed or was not run).
  base::Result<std::size_t> read(Lsn from, std::span<std::uint8_t> out);

  Lsn write_lsn() const { return write_lsn_; }
  Lsn flush_lsn() const { return flush_lsn_; }
  // First LSN this store holds bytes for: the start of its oldest segment (bytes
  // before the WAL start there are the synthesized headers and zeros, which
  // pg_waldump and pg_receivewal-style readers accept); 0 if empty.
  Lsn first_lsn() const { return first_lsn_; }
  // First record boundary of the stored WAL: where the WAL started (or, after a
  // restart, the first record start found from the oldest segment's headers).
  // truncate() below it starts the WAL afresh at the new point.
  Lsn wal_start() const { return wal_start_; }

  // Restart scan: decodes records from `from` (a record boundary, e.g. the
  // persisted commit_lsn, or a segment/page start) through consecutive segments
  // and returns the end of the last valid record and why decoding stopped.
  // write_lsn() and flush_lsn() become that end. If decoding stops below
  // `must_be_valid_upto` (the persisted commit_lsn: bytes known committed and
  // durable), the store holds damaged WAL: kCorrupt naming the LSN and reason;
  // nothing is changed then. kNotFound if `from` lies in no segment.
  base::Result<RecoveryScan> find_end_of_wal(Lsn from, Lsn must_be_valid_upto);
  // The restart policy in one call: decodes from the start of the segment
  // holding `commit_lsn` (the persisted commit LSN; or from the oldest segment if
  // it is 0 or older), so up to one segment of committed WAL is verified as well,
  // with must_be_valid_upto = commit_lsn. An empty store is fine when commit_lsn
  // is 0 (end 0) and kCorrupt otherwise (committed WAL is missing).
  base::Result<RecoveryScan> find_end_of_wal(Lsn commit_lsn);
  // After a successful find_end_of_wal: durably zeroes everything after the end
  // found (truncate(end)), so a later append cannot leave stale bytes behind it.
  void cut_torn_tail();

  // Deletes every segment that lies entirely below the segment holding `lsn`
  // (never that segment itself). Not needed for safety to be durable, but the
  // directory is fsynced.
  base::Status remove_segments_below(Lsn lsn);

  // Bytes allocated on disk to this store's files (segments and next.prealloc).
  std::uint64_t disk_usage_bytes() const;
  // Creates next.prealloc now if it is missing (the I/O thread may call this
  // when idle). kNoSpace if the disk is full.
  base::Status preallocate_next();

  const std::string& dir() const { return dir_; }
  const WalStoreOptions& options() const { return options_; }
  std::string segment_path(std::uint64_t segno, bool partial) const;

 private:
  struct Segment {
    bool partial = true;     // on-disk name ends in .partial
    Fd fd;                   // open for writing, or invalid
    bool dirty = false;      // written since the last fdatasync
    // Offset below which this process allocated (or wrote) the file's blocks;
    // 0 when unknown (opened after a restart): allocation then starts at the
    // end of each write, never below it, so it never overwrites WAL.
    std::uint64_t allocated = 0;
  };

  WalStore(std::string dir, WalStoreOptions options);
  std::uint64_t segno_of(Lsn lsn) const { return lsn.value() / options_.seg_size; }
  std::uint64_t offset_in(Lsn lsn) const { return lsn.value() % options_.seg_size; }
  Lsn segment_start(std::uint64_t segno) const { return Lsn(segno * options_.seg_size); }
  std::string prealloc_path() const { return dir_ + "/next.prealloc"; }

  base::Result<Segment*> open_for_write(std::uint64_t segno);
  // Allocates `seg` ahead of a write that ends at offset `end_off`.
  base::Status allocate_ahead(std::uint64_t segno, Segment& seg, std::uint64_t end_off);
  // kNoSpace if allocating `bytes` would leave less than keep_free_bytes free.
  base::Status check_headroom(std::uint64_t bytes) const;
  base::Status start_wal_at(Lsn start);
  base::Result<Fd> open_for_read(std::uint64_t segno) const;
  // The read descriptor of `segno`, cached for sequential readers.
  base::Result<int> read_fd(std::uint64_t segno);
  void zero_range_and_sync(std::uint64_t segno, std::uint64_t from_off, std::uint64_t to_off);
  // Makes [from_off, to_off) read as zeros, durably: a punched hole, or zeros.
  void punch_range_and_sync(std::uint64_t segno, std::uint64_t from_off, std::uint64_t to_off);
  void sync_dirty_files();
  void truncate_existing(Lsn at);
  void remove_all_segments();
  Lsn find_first_record(std::uint64_t segno);

  std::string dir_;
  WalStoreOptions options_;
  std::map<std::uint64_t, Segment> segments_;  // every segment file on disk, by segno
  bool ready_ = false;
  bool dir_dirty_ = false;       // a rename/creation not yet covered by a directory fsync
  bool prealloc_present_ = false;
  std::optional<std::uint64_t> prealloc_failed_for_;  // segno whose ahead-allocation hit ENOSPC
  Lsn write_lsn_;
  Lsn flush_lsn_;
  Lsn first_lsn_;
  Lsn wal_start_;
  // Highest LSN that may hold non-zero bytes on disk (bytes written, or unknown
  // garbage found at open): truncation zeroes up to here, not to the segment end.
  Lsn high_water_;
  std::optional<Lsn> scanned_end_;  // end of WAL from the last find_end_of_wal
  // One cached read descriptor (renames keep it valid; dropped when segments are
  // removed or truncated away).
  std::uint64_t read_segno_ = 0;
  Fd read_fd_;
};

}  // namespace wq::storage
