// WAL segment files of one timeline. See wal_store.h.
#include "storage/wal_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "wal/format.h"
#include "wal/page.h"

namespace wq::storage {

namespace {

constexpr std::string_view kPartialSuffix = ".partial";
constexpr std::size_t kScanChunk = 1 << 20;  // bytes fed to the decoder per read

std::uint64_t round_down(std::uint64_t v, std::uint64_t to) { return v - v % to; }

}  // namespace

const char* stop_name(RecoveryScan::Stop stop) {
  switch (stop) {
    case RecoveryScan::Stop::kZeroTail: return "zero tail";
    case RecoveryScan::Stop::kMissingSegment: return "missing segment";
    case RecoveryScan::Stop::kInvalidData: return "invalid data";
  }
  return "unknown";
}

WalStore::WalStore(std::string dir, WalStoreOptions options)
    : dir_(std::move(dir)), options_(options) {}

std::string WalStore::segment_path(std::uint64_t segno, bool partial) const {
  std::string path = dir_ + "/" + wal::segment_file_name(options_.tli, segno, options_.seg_size);
  if (partial) path += kPartialSuffix;
  return path;
}

base::Result<WalStore> WalStore::open(const std::string& dir, WalStoreOptions options) {
  if (!wal::valid_segment_size(options.seg_size)) {
    return Unexpected{ErrorCode::kInvalidArgument,
                      fmt::format("WAL segment size {} is not a power of two from 1 MiB to 1 GiB",
                                  options.seg_size)};
  }
  if (auto st = make_dirs(dir); !st) return Unexpected{st.error()};
  WalStore store(dir, options);

  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return Unexpected{ErrorCode::kIo,
                      fmt::format("cannot list {}: {}", dir, std::strerror(errno))};
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());

  for (const std::string& name : names) {
    if (name == "next.prealloc") {
      struct stat st {};
      std::string path = store.prealloc_path();
      if (::stat(path.c_str(), &st) == 0 &&
          static_cast<std::uint64_t>(st.st_size) == options.seg_size) {
        store.prealloc_present_ = true;
      } else {
        unlink_or_die(path);  // a crash interrupted its creation
      }
      continue;
    }
    auto parsed = wal::parse_segment_file_name(name, options.seg_size);
    if (!parsed || parsed->tli != options.tli) continue;
    auto [it, inserted] = store.segments_.try_emplace(parsed->segno);
    if (!inserted) {
      return Unexpected{ErrorCode::kCorrupt,
                        fmt::format("{} holds segment {} both complete and .partial", dir,
                                    wal::segment_file_name(options.tli, parsed->segno,
                                                           options.seg_size))};
    }
    it->second.partial = parsed->partial;
  }

  // Whatever a crashed predecessor left in the page cache is made durable now, so
  // the end of WAL found by decoding is also the durable end.
  for (const auto& [segno, seg] : store.segments_) {
    std::string path = store.segment_path(segno, seg.partial);
    auto fd = open_file(path, O_RDONLY);
    if (!fd) return Unexpected{fd.error()};
    fsync_or_die(fd->get(), path);
  }
  fsync_dir_or_die(dir);

  if (store.segments_.empty()) {
    store.ready_ = true;
  } else {
    std::uint64_t first = store.segments_.begin()->first;
    std::uint64_t last = store.segments_.rbegin()->first;
    store.first_lsn_ = store.segment_start(first);
    store.wal_start_ = store.find_first_record(first);
    store.high_water_ = store.segment_start(last + 1);  // unknown bytes up to the last segment's end
  }
  return store;
}

base::Result<WalStore::Segment*> WalStore::open_for_write(std::uint64_t segno) {
  auto it = segments_.find(segno);
  if (it == segments_.end()) {
    // A new segment: take the prepared file, or make one now (sparse: blocks
    // are allocated chunk by chunk ahead of the writes).
    if (!prealloc_present_) {
      if (auto st = create_sparse(prealloc_path(), options_.seg_size); !st) {
        return Unexpected{st.error().code,
                          fmt::format("cannot create WAL segment {}: {}",
                                      segment_path(segno, true), st.error().message)};
      }
    }
    rename_or_die(prealloc_path(), segment_path(segno, true));
    prealloc_present_ = false;
    dir_dirty_ = true;  // the rename is made durable by the next sync()'s directory fsync
    it = segments_.try_emplace(segno).first;
    it->second.partial = true;
  } else if (!it->second.partial) {
    // Writing into a segment with a complete name: it is being rewritten, so it
    // is partial again (a rename, durable at the next directory fsync).
    rename_or_die(segment_path(segno, false), segment_path(segno, true));
    it->second.partial = true;
    dir_dirty_ = true;
  }
  Segment& seg = it->second;
  if (!seg.fd.valid()) {
    auto fd = open_file(segment_path(segno, true), O_RDWR);
    if (!fd) return Unexpected{fd.error()};
    seg.fd = std::move(*fd);
  }
  return &seg;
}

base::Status WalStore::allocate_ahead(std::uint64_t segno, Segment& seg, std::uint64_t end_off) {
  std::uint64_t chunk = std::max<std::uint64_t>(options_.alloc_chunk_bytes, wal::kBlockSize);
  std::uint64_t target = std::min(options_.seg_size, (end_off / chunk + 1) * chunk);
  std::uint64_t from = std::max(seg.allocated, end_off);
  if (from >= target) return base::Ok{};
  if (auto st = check_headroom(target - from); !st) return st;
  // Only bytes at or after the write's end: nothing there is WAL yet.
  auto st = allocate_range(seg.fd.get(), from, target - from, options_.zero_fill,
                           segment_path(segno, true));
  if (!st) return st;
  seg.allocated = target;
  seg.dirty = true;  // the new blocks become durable with the next fdatasync
  return base::Ok{};
}

base::Status WalStore::check_headroom(std::uint64_t bytes) const {
  if (options_.keep_free_bytes == 0) return base::Ok{};
  auto free = free_bytes(dir_);
  if (!free || *free >= bytes + options_.keep_free_bytes) return base::Ok{};
  return Unexpected{ErrorCode::kNoSpace,
                    fmt::format("no space left for WAL in {}: {} bytes free, allocating {} more "
                                "would leave less than the {} kept for metadata",
                                dir_, *free, bytes, options_.keep_free_bytes)};
}

base::Status WalStore::preallocate_next() {
  if (prealloc_present_) return base::Ok{};
  if (auto st = check_headroom(std::min(options_.seg_size, options_.alloc_chunk_bytes)); !st) {
    return st;
  }
  if (auto st = create_sparse(prealloc_path(), options_.seg_size); !st) return st;
  {
    // Its first chunk allocated and synced, so the first appends after the
    // rename overwrite allocated blocks.
    auto fd = open_file(prealloc_path(), O_RDWR);
    if (!fd) fatal_io("open", prealloc_path(), EIO);
    std::uint64_t n = std::min(options_.seg_size, options_.alloc_chunk_bytes);
    auto st = allocate_range(fd->get(), 0, n, options_.zero_fill, prealloc_path());
    if (!st) {
      fd->reset();
      unlink_or_die(prealloc_path());
      fsync_dir_or_die(dir_);
      return st;
    }
    fdatasync_or_die(fd->get(), prealloc_path());
  }
  prealloc_present_ = true;
  return base::Ok{};
}

base::Status WalStore::start_wal_at(Lsn start) {
  WQ_ASSERT(segments_.empty(), "start_wal_at({}) on a store with segments", start);
  std::uint64_t segno = segno_of(start);
  auto seg = open_for_write(segno);
  if (!seg) return Unexpected{seg.error()};
  first_lsn_ = segment_start(segno);
  wal_start_ = start;
  write_lsn_ = flush_lsn_ = high_water_ = start;
  ready_ = true;
  Lsn seg_start = segment_start(segno);
  if (start == seg_start) return base::Ok{};  // the proposer's bytes carry the long header
  std::uint32_t in_page = wal::page_offset(start);
  WQ_ASSERT(in_page == 0 || in_page >= wal::page_header_size_at(wal::page_start(start),
                                                                options_.seg_size),
            "WAL start {} lies inside a page header", start);

  // Synthesize the page headers before `start`: the gap [seg_start + 40, start)
  // is presented as the tail of an earlier record, so readers skip it.
  std::uint64_t gap_pages = (start - seg_start + wal::kBlockSize - 1) / wal::kBlockSize;
  std::vector<std::uint8_t> pages(gap_pages * wal::kBlockSize, 0);
  std::uint64_t remaining = start - seg_start;  // gap bytes still to describe, headers included
  for (std::uint64_t i = 0; i < gap_pages; ++i) {
    Lsn page = seg_start + i * wal::kBlockSize;
    wal::PageHeader h;
    h.tli = options_.tli;
    h.pageaddr = page;
    h.is_long = (i == 0);
    std::uint32_t header_size = h.size();
    // Data bytes from this page's header end to `start`, minus later pages' headers.
    std::uint64_t later_pages = gap_pages - 1 - i;
    std::uint64_t rem = remaining - header_size - later_pages * wal::kShortPageHeaderSize;
    h.rem_len = static_cast<std::uint32_t>(rem);
    h.info = static_cast<std::uint16_t>((h.is_long ? wal::XLP_LONG_HEADER : 0) |
                                        (rem > 0 ? wal::XLP_FIRST_IS_CONTRECORD : 0));
    if (h.is_long) {
      h.sysid = options_.system_id;
      h.seg_size = static_cast<std::uint32_t>(options_.seg_size);
    }
    wal::encode_page_header(h, pages.data() + i * wal::kBlockSize);
    remaining -= std::min<std::uint64_t>(remaining, wal::kBlockSize);
  }
  // Only the header bytes and, on start's page, nothing at or after `start`.
  std::uint64_t len = start - seg_start;
  auto st = write_all_or_die((*seg)->fd.get(), 0, {pages.data(), len}, segment_path(segno, true));
  if (!st) return st;
  (*seg)->dirty = true;
  return base::Ok{};
}

base::Status WalStore::write(Lsn begin, std::span<const std::uint8_t> bytes) {
  WQ_ASSERT(ready_, "WalStore::write before find_end_of_wal in {}", dir_);
  if (segments_.empty()) {
    if (auto st = start_wal_at(begin); !st) return st;
  } else if (begin != write_lsn_) {
    return Unexpected{ErrorCode::kInvalidArgument,
                      fmt::format("non-sequential WAL write at {} in {}: the WAL ends at {}",
                                  begin, dir_, write_lsn_)};
  }
  Lsn pos = begin;
  std::size_t done = 0;
  high_water_ = std::max(high_water_, begin + bytes.size());
  while (done < bytes.size()) {
    std::uint64_t segno = segno_of(pos);
    std::uint64_t off = offset_in(pos);
    std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size() - done,
                                                         options_.seg_size - off));
    auto seg = open_for_write(segno);
    if (!seg) return Unexpected{seg.error()};
    if (auto st = allocate_ahead(segno, **seg, off + n); !st) return st;
    auto st = write_all_or_die((*seg)->fd.get(), off, bytes.subspan(done, n),
                               segment_path(segno, true));
    if (!st) return st;
    (*seg)->dirty = true;
    pos += n;
    done += n;
  }
  write_lsn_ = pos;
  if (options_.preallocate_ahead && !prealloc_present_ &&
      offset_in(write_lsn_) >= options_.seg_size / 4 * 3) {
    std::uint64_t segno = segno_of(write_lsn_);
    if (prealloc_failed_for_ != segno) {
      // Best effort: if the disk is full, the append that needs the segment
      // reports kNoSpace; try again once per segment only.
      if (auto st = preallocate_next(); !st) prealloc_failed_for_ = segno;
    }
  }
  return base::Ok{};
}

void WalStore::sync_dirty_files() {
  for (auto& [segno, seg] : segments_) {
    if (!seg.dirty) continue;
    fdatasync_or_die(seg.fd.get(), segment_path(segno, seg.partial));
    seg.dirty = false;
  }
}

void WalStore::sync() {
  if (!ready_) return;  // nothing can have been written (e.g. a store found corrupt)
  sync_dirty_files();
  std::uint64_t current = segno_of(write_lsn_);
  // A map walk without system calls: cheap next to the fdatasyncs, and it also
  // renames a complete .partial left by a crash before its rename.
  for (auto& [segno, seg] : segments_) {
    if (seg.partial && segment_start(segno + 1) <= write_lsn_) {
      // Complete, and its bytes are durable now, so it may carry the complete name.
      rename_or_die(segment_path(segno, true), segment_path(segno, false));
      seg.partial = false;
      dir_dirty_ = true;
    }
    if (segno != current) seg.fd.reset();
  }
  if (dir_dirty_) {
    fsync_dir_or_die(dir_);
    dir_dirty_ = false;
  }
  flush_lsn_ = write_lsn_;
}

void WalStore::zero_range_and_sync(std::uint64_t segno, std::uint64_t from_off,
                                   std::uint64_t to_off) {
  auto it = segments_.find(segno);
  if (it == segments_.end() || from_off >= to_off) return;
  Segment& seg = it->second;
  std::string path = segment_path(segno, seg.partial);
  if (!seg.fd.valid()) {
    auto fd = open_file(path, O_RDWR);
    if (!fd) fatal_io("open for truncation", path, EIO);
    seg.fd = std::move(*fd);
  }
  // Overwriting allocated bytes needs no new space; ENOSPC here would mean the
  // file was not full size, and a truncation that cannot finish must not go on.
  auto st = write_zeros_or_die(seg.fd.get(), from_off, to_off - from_off, path);
  if (!st) fatal_io("zeroing the WAL tail of", path, ENOSPC);
  fdatasync_or_die(seg.fd.get(), path);
  seg.dirty = false;
}

void WalStore::punch_range_and_sync(std::uint64_t segno, std::uint64_t from_off,
                                    std::uint64_t to_off) {
  auto it = segments_.find(segno);
  if (it == segments_.end() || from_off >= to_off) return;
  Segment& seg = it->second;
  std::string path = segment_path(segno, seg.partial);
  if (!seg.fd.valid()) {
    auto fd = open_file(path, O_RDWR);
    if (!fd) fatal_io("open for truncation", path, EIO);
    seg.fd = std::move(*fd);
  }
  // A hole reads as zeros and frees the space: a restarted store (whose tail
  // beyond the end of WAL is unknown up to the segment end) stays small. A
  // file cut short (by a crash or a person) is full size again afterwards.
  extend_to(seg.fd.get(), to_off, path);
  if (punch_hole(seg.fd.get(), from_off, to_off - from_off, path)) {
    fsync_or_die(seg.fd.get(), path);  // extents are metadata: fsync, not fdatasync
    seg.allocated = std::min(seg.allocated, from_off);
    seg.dirty = false;
    return;
  }
  zero_range_and_sync(segno, from_off, to_off);  // no hole punching here: write zeros
}

void WalStore::truncate_existing(Lsn at) {
  WQ_ASSERT(at >= wal_start_ && at <= write_lsn_, "truncate at {} outside [{}, {}] in {}", at,
            wal_start_, write_lsn_, dir_);
  // Bytes below `at` that were written but not synced become durable too, so
  // flush_lsn() == at is true afterwards.
  sync_dirty_files();
  // 1. In-memory end: nothing above `at` is WAL any more.
  write_lsn_ = flush_lsn_ = at;

  std::uint64_t segno = segno_of(at);
  std::uint64_t off = offset_in(at);
  // 2. The crash-safety step: zero the rest of the page holding the next record
  // slot (and that whole page when it starts a page, header included), synced,
  // before anything else. After it, decoding from below `at` stops at `at`.
  std::uint64_t next_slot = wal::maxalign(off);
  std::uint64_t first_zero_end =
      std::min<std::uint64_t>(round_down(next_slot, wal::kBlockSize) + wal::kBlockSize,
                              options_.seg_size);
  zero_range_and_sync(segno, off, first_zero_end);
  if (options_.test_exit_after_first_truncate_step) ::_exit(0);

  // 3. The rest of the segment, up to the highest byte that may be non-zero.
  std::uint64_t seg_end_lsn = segment_start(segno + 1).value();
  std::uint64_t hw = std::min(high_water_.value(), seg_end_lsn);
  std::uint64_t hw_off = hw > segment_start(segno).value() ? hw - segment_start(segno).value() : 0;
  punch_range_and_sync(segno, first_zero_end, std::max(hw_off, first_zero_end));

  // 4. Later segments are gone (newest first, so a crash leaves a contiguous prefix).
  read_fd_.reset();
  while (!segments_.empty() && segments_.rbegin()->first > segno) {
    auto last = std::prev(segments_.end());
    unlink_or_die(segment_path(last->first, last->second.partial));
    segments_.erase(last);
    dir_dirty_ = true;
  }
  // 5. The segment holding `at` is incomplete again.
  if (auto it = segments_.find(segno); it != segments_.end()) {
    if (!it->second.partial) {
      rename_or_die(segment_path(segno, false), segment_path(segno, true));
      it->second.partial = true;
      dir_dirty_ = true;
    }
  }
  if (dir_dirty_) {
    fsync_dir_or_die(dir_);
    dir_dirty_ = false;
  }
  high_water_ = at;
  prealloc_failed_for_.reset();
}

base::Status WalStore::truncate(Lsn at) {
  WQ_ASSERT(ready_, "WalStore::truncate before find_end_of_wal in {}", dir_);
  if (segments_.empty()) {
    if (auto st = start_wal_at(at); !st) return st;
    sync();  // the synthesized headers and the new file name are durable on return
    return base::Ok{};
  }
  if (at < wal_start_ || (at > write_lsn_ && write_lsn_ == wal_start_)) {
    // Nothing this store holds is WAL below `at` (it starts later, or it holds
    // headers but no record yet): start over there.
    remove_all_segments();
    if (auto st = start_wal_at(at); !st) return st;
    sync();
    return base::Ok{};
  }
  truncate_existing(at);
  return base::Ok{};
}

void WalStore::remove_all_segments() {
  read_fd_.reset();
  while (!segments_.empty()) {
    auto last = std::prev(segments_.end());
    unlink_or_die(segment_path(last->first, last->second.partial));
    segments_.erase(last);
  }
  // Durable before new files appear, so a crash cannot bring old WAL back.
  fsync_dir_or_die(dir_);
  dir_dirty_ = false;
  write_lsn_ = flush_lsn_ = high_water_ = first_lsn_ = wal_start_ = Lsn();
}

Lsn WalStore::find_first_record(std::uint64_t segno) {
  // XLogFindNextRecord's walk: skip each page header and the continuation it
  // announces until a page where a record can start.
  Lsn seg_start = segment_start(segno);
  auto fd = open_for_read(segno);
  if (!fd) return seg_start;
  std::array<std::uint8_t, wal::kLongPageHeaderSize> buf{};
  for (Lsn page = seg_start; page < segment_start(segno + 1); page += wal::kBlockSize) {
    auto got = read_full(fd->get(), page - seg_start, buf,
                         segment_path(segno, segments_.at(segno).partial));
    if (!got || *got < buf.size()) return seg_start;
    auto h = wal::decode_page_header(buf, page, options_.seg_size);
    if (!h) return seg_start;  // not readable WAL: assume it starts at the segment
    std::uint64_t rem = (h->info & wal::XLP_FIRST_IS_CONTRECORD) ? h->rem_len : 0;
    if (wal::maxalign(rem) < wal::kBlockSize - h->size()) {
      return page + h->size() + wal::maxalign(rem);
    }
  }
  return seg_start;
}

base::Result<Fd> WalStore::open_for_read(std::uint64_t segno) const {
  auto it = segments_.find(segno);
  if (it == segments_.end()) {
    return Unexpected{ErrorCode::kNotFound,
                      fmt::format("WAL segment {} is not in {}",
                                  wal::segment_file_name(options_.tli, segno, options_.seg_size),
                                  dir_)};
  }
  return open_file(segment_path(segno, it->second.partial), O_RDONLY);
}

base::Result<int> WalStore::read_fd(std::uint64_t segno) {
  if (read_fd_.valid() && read_segno_ == segno) return read_fd_.get();
  auto fd = open_for_read(segno);
  if (!fd) return Unexpected{fd.error()};
  read_fd_ = std::move(*fd);
  read_segno_ = segno;
  return read_fd_.get();
}

base::Result<std::size_t> WalStore::read(Lsn from, std::span<std::uint8_t> out) {
  if (!ready_) {
    return Unexpected{ErrorCode::kCorrupt,
                      fmt::format("WAL in {} is not readable: its end is unknown (no successful "
                                  "restart scan)",
                                  dir_)};
  }
  if (segments_.empty() || from < first_lsn_) {
    return Unexpected{ErrorCode::kNotFound,
                      fmt::format("WAL at {} is not stored in {} (it starts at {})", from, dir_,
                                  first_lsn_)};
  }
  if (from >= write_lsn_) return std::size_t{0};
  std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), write_lsn_ - from));
  std::size_t done = 0;
  while (done < want) {
    Lsn pos = from + done;
    std::uint64_t segno = segno_of(pos);
    std::uint64_t off = offset_in(pos);
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(want - done,
                                                                     options_.seg_size - off));
    auto fd = read_fd(segno);
    if (!fd) return Unexpected{fd.error()};
    auto it = segments_.find(segno);
    auto got = read_full(*fd, off, out.subspan(done, n),
                         segment_path(segno, it->second.partial));
    if (!got) return Unexpected{got.error()};
    if (*got != n) {
      return Unexpected{ErrorCode::kIo,
                        fmt::format("{} is shorter than its WAL: {} of {} bytes at offset {}",
                                    segment_path(segno, it->second.partial), *got, n, off)};
    }
    done += n;
  }
  return done;
}

base::Result<RecoveryScan> WalStore::find_end_of_wal(Lsn from, Lsn must_be_valid_upto) {
  std::uint64_t segno = segno_of(from);
  if (segments_.find(segno) == segments_.end() && wal::is_segment_aligned(from, options_.seg_size) &&
      segno > 0 && segments_.find(segno - 1) != segments_.end()) {
    // The WAL ended exactly at a segment boundary and the next segment was never
    // created: the end is `from` itself.
    RecoveryScan scan;
    scan.from = scan.end = scan.stop_lsn = from;
    scan.stop = RecoveryScan::Stop::kMissingSegment;
    scan.reason = "no segment after the boundary";
    if (scan.end < must_be_valid_upto) {
      return Unexpected{ErrorCode::kCorrupt,
                        fmt::format("WAL in {} is missing below the commit LSN {}: it ends at {}",
                                    dir_, must_be_valid_upto, from)};
    }
    write_lsn_ = flush_lsn_ = from;
    ready_ = true;
    scanned_end_ = from;
    return scan;
  }
  if (segments_.find(segno) == segments_.end()) {
    return Unexpected{ErrorCode::kNotFound,
                      fmt::format("cannot scan WAL from {} in {}: segment {} is missing", from,
                                  dir_, wal::segment_file_name(options_.tli, segno,
                                                               options_.seg_size))};
  }
  wal::DecoderOptions dopt;
  dopt.seg_size = options_.seg_size;
  dopt.start_is_page_aligned = wal::is_page_aligned(from);
  dopt.file_tli = options_.tli;
  wal::StreamDecoder decoder(from, dopt);

  RecoveryScan scan;
  scan.from = from;
  std::vector<std::uint8_t> buf(kScanChunk);
  Lsn fed = from;
  bool stopped = false;
  bool finished = false;
  while (!stopped) {
    // Drain the decoder before feeding more, so memory stays bounded.
    for (;;) {
      wal::DecodeStep step = decoder.next();
      if (std::holds_alternative<wal::DecodedRecord>(step)) {
        ++scan.records;
        continue;
      }
      if (std::holds_alternative<wal::NeedMore>(step) && finished) {
        // Defensive: a finished decoder must report the end; treat it as one.
        scan.stop = RecoveryScan::Stop::kMissingSegment;
        scan.stop_lsn = fed;
        scan.reason = "no more WAL files";
        stopped = true;
      }
      if (auto* end = std::get_if<wal::EndOfWal>(&step)) {
        scan.stop_lsn = end->lsn;
        scan.reason = end->message;
        bool zeros = end->reason == wal::EndReason::kZeroPage ||
                     (end->reason == wal::EndReason::kBadLength &&
                      end->message.find("got 0") != std::string::npos);
        scan.stop = zeros ? RecoveryScan::Stop::kZeroTail : RecoveryScan::Stop::kInvalidData;
        if (end->reason == wal::EndReason::kEndOfInput) {
          scan.stop = RecoveryScan::Stop::kMissingSegment;
        }
        stopped = true;
      }
      break;  // NeedMore, or stopped
    }
    if (stopped) break;
    std::uint64_t s = segno_of(fed);
    auto fd = read_fd(s);
    if (!fd) {
      if (fd.error().code != ErrorCode::kNotFound) return Unexpected{fd.error()};
      decoder.finish();  // no next segment: an incomplete record there is the end
      finished = true;
      continue;
    }
    std::uint64_t off = offset_in(fed);
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(kScanChunk, options_.seg_size - off));
    auto got = read_full(*fd, off, {buf.data(), n}, segment_path(s, segments_[s].partial));
    if (!got) return Unexpected{got.error()};
    if (*got == 0) {
      decoder.finish();
      finished = true;
      continue;
    }
    decoder.feed({buf.data(), *got});
    fed += *got;
    if (*got < n) {
      decoder.finish();  // a short file: nothing lies beyond it
      finished = true;
    }
  }
  scan.end = decoder.end_of_valid_wal();
  // Below wal_start lie only the headers synthesized for the pages before the
  // WAL's first record. A decoder that got through them and stopped at
  // wal_start (no record written yet: elected, then restarted) ends there, not
  // at the segment start, which would be below anything truncate may cut at.
  // One that stopped inside them found damaged headers: no valid WAL at all.
  if (scan.end < wal_start_) {
    if (scan.stop_lsn < wal_start_) {
      return Unexpected{ErrorCode::kCorrupt,
                        fmt::format("WAL in {} is damaged below its first record {}: decoding "
                                    "from {} stopped at {} ({}: {})",
                                    dir_, wal_start_, from, scan.stop_lsn, stop_name(scan.stop),
                                    scan.reason)};
    }
    scan.end = wal_start_;
  }
  if (scan.end < must_be_valid_upto) {
    return Unexpected{ErrorCode::kCorrupt,
                      fmt::format("WAL in {} is damaged below the commit LSN {}: decoding from {} "
                                  "stopped at {} ({}: {})",
                                  dir_, must_be_valid_upto, from, scan.stop_lsn,
                                  stop_name(scan.stop), scan.reason)};
  }
  write_lsn_ = flush_lsn_ = scan.end;
  ready_ = true;
  scanned_end_ = scan.end;
  return scan;
}

base::Result<RecoveryScan> WalStore::find_end_of_wal(Lsn commit_lsn) {
  if (segments_.empty()) {
    if (commit_lsn.is_valid()) {
      return Unexpected{ErrorCode::kCorrupt,
                        fmt::format("{} holds no WAL, but the commit LSN is {}", dir_, commit_lsn)};
    }
    ready_ = true;
    scanned_end_ = write_lsn_;
    return RecoveryScan{};
  }
  Lsn from = first_lsn_;
  if (commit_lsn > first_lsn_) from = segment_start(segno_of(commit_lsn));
  return find_end_of_wal(from, commit_lsn);
}

void WalStore::cut_torn_tail() {
  WQ_ASSERT(scanned_end_.has_value() && *scanned_end_ == write_lsn_,
            "cut_torn_tail must directly follow a successful find_end_of_wal in {}", dir_);
  truncate_existing(*scanned_end_);
}

base::Status WalStore::remove_segments_below(Lsn lsn) {
  if (segments_.empty()) return base::Ok{};
  // Never the segment holding `lsn`, nor the newest segment (the WAL's end).
  std::uint64_t keep = std::min(segno_of(lsn), segments_.rbegin()->first);
  bool removed = false;
  read_fd_.reset();
  while (!segments_.empty() && segments_.begin()->first < keep) {
    auto first = segments_.begin();
    unlink_or_die(segment_path(first->first, first->second.partial));
    segments_.erase(first);
    removed = true;
  }
  if (removed) {
    fsync_dir_or_die(dir_);
    if (!segments_.empty() && segment_start(segments_.begin()->first) > first_lsn_) {
      first_lsn_ = segment_start(segments_.begin()->first);
      wal_start_ = std::max(wal_start_, find_first_record(segments_.begin()->first));
    }
  }
  return base::Ok{};
}

std::uint64_t WalStore::disk_usage_bytes() const {
  std::uint64_t total = 0;
  for (const auto& [segno, seg] : segments_) total += allocated_bytes(segment_path(segno, seg.partial));
  if (prealloc_present_) total += allocated_bytes(prealloc_path());
  return total;
}

}  // namespace wq::storage
