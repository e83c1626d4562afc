// walquorum-walgen: writes PostgreSQL 15 WAL segment files with walquorum's
// own encoder (wal::WalWriter), for the "us -> PostgreSQL" differential test:
// pg_waldump must read every record we write. It exercises every record kind
// the encoder offers: generic-WAL deltas on real 8 KiB heap-like pages, FPIs
// with holes, FPW_CHANGE, commits, online checkpoints, large records crossing
// pages and segment boundaries, records ending exactly at a page boundary (or
// in its last 1..7 bytes), one XLOG_SWITCH, and records using the rarer
// RecordBuilder features (origin, top-level xid, WILL_INIT, images without
// APPLY or without a hole, an lz4-flagged stored image, commit with xinfo). Segments are full-size files,
// zero-padded after the last record. Deterministic: no clock, no randomness.
//
// Prints one line: records=N start=X/Y end=X/Y segments=K first_segment=NAME
// page_end_records=N segment_crossing_records=N fpi_records=N generic_records=N
// large_records=N exotic_records=N total_bytes=N (sum of xl_tot_len).
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "wal/encoder.h"
#include "wal/format.h"
#include "wal/lsn.h"
#include "wal/record.h"

namespace wq::waldump {
namespace {

using wal::Lsn;
using wal::Page;

constexpr wal::RelFileNode kRel{wal::kDefaultTablespace, 5, 16384};
constexpr wal::RelFileNode kRel2{wal::kDefaultTablespace, 5, 16390};
constexpr int kPages = 8;

// Appends written WAL bytes to segment files, one file per segment, in order.
class SegmentWriter {
 public:
  SegmentWriter(std::string dir, std::uint32_t tli, std::uint64_t seg_size)
      : dir_(std::move(dir)), tli_(tli), seg_size_(seg_size) {}
  ~SegmentWriter() { close(); }

  bool write(Lsn at, std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
      std::uint64_t segno = wal::segno_of(at, seg_size_);
      if (f_ == nullptr || segno != segno_) {
        close();
        segno_ = segno;
        std::string path = dir_ + "/" + wal::segment_file_name(tli_, segno, seg_size_);
        f_ = std::fopen(path.c_str(), "wb");
        if (f_ == nullptr) {
          std::fprintf(stderr, "walquorum-walgen: error: could not create \"%s\": %s\n",
                       path.c_str(), std::strerror(errno));
          return false;
        }
        if (wal::segment_offset(at, seg_size_) != 0) {
          std::fprintf(stderr, "walquorum-walgen: error: bytes for %s do not start at a segment start\n",
                       path.c_str());
          return false;
        }
        ++segments_;
      }
      std::uint64_t room = seg_size_ - wal::segment_offset(at, seg_size_);
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(room, bytes.size()));
      if (std::fwrite(bytes.data(), 1, n, f_) != n) {
        std::fprintf(stderr, "walquorum-walgen: error: write failed: %s\n", std::strerror(errno));
        return false;
      }
      at = at + n;
      bytes = bytes.subspan(n);
    }
    return true;
  }
  bool close() {
    bool ok = true;
    if (f_ != nullptr) ok = std::fclose(f_) == 0;
    f_ = nullptr;
    return ok;
  }
  int segments() const { return segments_; }

 private:
  std::string dir_;
  std::uint32_t tli_;
  std::uint64_t seg_size_;
  std::FILE* f_ = nullptr;
  std::uint64_t segno_ = 0;
  int segments_ = 0;
};

// An empty heap-like page: header with pd_lower = 24, pd_upper = pd_special = 8192.
void init_page(Page& p, std::uint32_t blk) {
  p.fill(0);
  wal::store_u16(p.data() + 12, 24);                      // pd_lower
  wal::store_u16(p.data() + 14, 8192);                    // pd_upper
  wal::store_u16(p.data() + 16, 8192);                    // pd_special
  wal::store_u16(p.data() + 18, 8192 | 4);                // pd_pagesize_version
  wal::store_u32(p.data() + 20, blk);                     // pd_prune_xid: something non-zero-ish
}

void set_page_lsn(Page& p, Lsn lsn) {
  wal::store_u32(p.data(), static_cast<std::uint32_t>(lsn.value() >> 32));
  wal::store_u32(p.data() + 4, static_cast<std::uint32_t>(lsn.value()));
}

// Adds a "tuple" of tuple_len bytes: a line pointer at pd_lower, data below pd_upper.
// Returns false when the page is full (the caller re-initialises it).
bool add_tuple(Page& p, std::uint32_t seed, std::uint16_t tuple_len) {
  std::uint16_t lower = wal::load_u16(p.data() + 12);
  std::uint16_t upper = wal::load_u16(p.data() + 14);
  if (upper - lower < tuple_len + 4) return false;
  upper = static_cast<std::uint16_t>(upper - tuple_len);
  wal::store_u32(p.data() + lower, (std::uint32_t{tuple_len} << 17) | upper);
  for (std::uint16_t i = 0; i < tuple_len; ++i) {
    p[upper + i] = static_cast<std::uint8_t>((seed * 31 + i * 7) ^ (i >> 3));
  }
  wal::store_u16(p.data() + 12, static_cast<std::uint16_t>(lower + 4));
  wal::store_u16(p.data() + 14, upper);
  return true;
}

struct Counters {
  std::uint64_t records = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t page_end = 0;
  std::uint64_t segment_crossing = 0;
  std::uint64_t fpi = 0;
  std::uint64_t generic = 0;
  std::uint64_t large = 0;
  std::uint64_t exotic = 0;
};

class Generator {
 public:
  Generator(const std::string& dir, std::uint64_t seg_size, int segments)
      : seg_size_(seg_size),
        target_segments_(segments),
        start_(wal::segment_start(1, seg_size)),
        writer_(start_, /*tli=*/1, /*sysid=*/7300000000000000001ull, seg_size),
        out_(dir, 1, seg_size) {
    for (int i = 0; i < kPages; ++i) init_page(pages_[i], static_cast<std::uint32_t>(i));
  }

  bool run() {
    checkpoint();
    append(wal::make_fpw_change_record(true));
    const std::uint64_t last_segno = 1 + static_cast<std::uint64_t>(target_segments_) - 1;
    bool switched = false;
    std::uint64_t step = 0;
    while (true) {
      Lsn next = writer_.next_record_lsn();
      std::uint64_t segno = wal::segno_of(next, seg_size_);
      std::uint64_t seg_off = wal::segment_offset(next, seg_size_);
      // Stop a little before the end of the last segment so it stays a single file.
      if (segno == last_segno && seg_off > seg_size_ - 300000) break;
      if (segno > last_segno) break;
      ++step;
      // A large record across the segment boundary (once per segment, but not the last).
      if (segno < last_segno && seg_off > seg_size_ - 40000 && crossed_segno_ != segno) {
        crossed_segno_ = segno;
        large_noop(100000 + static_cast<std::uint32_t>(segno) * 8);
        continue;
      }
      // One XLOG_SWITCH halfway through the second segment.
      if (!switched && segno == 2 && seg_off > seg_size_ / 2) {
        switched = true;
        auto placed = writer_.append_switch();
        if (placed.start != placed.end) note(placed, 24);
        if (!flush()) return false;
        continue;
      }
      if (step % 97 == 0) { end_at_page_boundary(0); continue; }
      if (step % 101 == 0) { end_at_page_boundary(3); continue; }
      if (step % 503 == 0) { large_noop(20000 + static_cast<std::uint32_t>(step % 1000)); continue; }
      if (step % 1500 == 0) { checkpoint(); continue; }
      if (step % 311 == 0) { exotic(step); continue; }
      if (step % 2000 == 0) append(wal::make_fpw_change_record(step % 4000 == 0));
      page_work(step);
      if (step % 64 == 0 && !flush()) return false;
    }
    end_ = writer_.end_lsn();
    writer_.pad_to_segment_end();
    if (!flush()) return false;
    return out_.close();
  }

  void report() const {
    std::printf("records=%llu start=%s end=%s segments=%d first_segment=%s page_end_records=%llu "
                "segment_crossing_records=%llu fpi_records=%llu generic_records=%llu "
                "large_records=%llu exotic_records=%llu total_bytes=%llu\n",
                static_cast<unsigned long long>(c_.records), start_.to_string().c_str(),
                end_.to_string().c_str(), out_.segments(),
                wal::segment_file_name(1, 1, seg_size_).c_str(),
                static_cast<unsigned long long>(c_.page_end),
                static_cast<unsigned long long>(c_.segment_crossing),
                static_cast<unsigned long long>(c_.fpi),
                static_cast<unsigned long long>(c_.generic),
                static_cast<unsigned long long>(c_.large),
                static_cast<unsigned long long>(c_.exotic),
                static_cast<unsigned long long>(c_.total_bytes));
  }

 private:
  wal::WalWriter::Placed append(const wal::RecordBuilder& b) {
    auto placed = writer_.append(b);
    note(placed, b.total_length());
    return placed;
  }

  void note(const wal::WalWriter::Placed& placed, std::uint32_t tot_len) {
    ++c_.records;
    c_.total_bytes += tot_len;
    if (wal::is_page_aligned(placed.end)) ++c_.page_end;
    if (wal::segno_of(placed.start, seg_size_) != wal::prev_segno_of(placed.end, seg_size_)) {
      ++c_.segment_crossing;
    }
  }

  bool flush() {
    Lsn at = writer_.bytes_start();
    std::vector<std::uint8_t> bytes = writer_.take_bytes();
    return out_.write(at, bytes);
  }

  void checkpoint() {
    wal::CheckPoint cp;
    cp.redo = writer_.next_record_lsn();
    cp.next_xid = next_xid_;
    cp.next_oid = 24576;
    cp.next_multi = 1;
    cp.oldest_xid = 716;
    cp.oldest_xid_db = 1;
    cp.oldest_multi = 1;
    cp.oldest_multi_db = 1;
    cp.time = 1764000000 + static_cast<std::int64_t>(c_.records);
    cp.oldest_active_xid = next_xid_;
    append(wal::make_checkpoint_record(cp, /*shutdown=*/false));
    // After a checkpoint, the first change to each page logs a full image.
    for (bool& t : touched_) t = false;
  }

  // A NOOP whose main data makes it end exactly at the next page boundary
  // (slack 0) or `slack` bytes before it (MAXALIGN then ends it at the boundary).
  void end_at_page_boundary(std::uint32_t slack) {
    Lsn next = writer_.next_record_lsn();
    std::uint32_t room = wal::kBlockSize - wal::page_offset(next);
    if (room < 27 + slack + 8) return;
    std::uint32_t tot = room - slack;
    // Short main-data header: 24 + 2 + len with len <= 255; long: 24 + 5 + len.
    std::uint32_t len = tot <= 281 ? tot - 26 : tot - 29;
    if (tot > 281 && len <= 255) return;  // 282..284 cannot be built
    std::vector<std::uint8_t> data(len);
    for (std::uint32_t i = 0; i < len; ++i) data[i] = static_cast<std::uint8_t>(i * 13);
    wal::RecordBuilder b(wal::RM_XLOG_ID, wal::XLOG_NOOP);
    b.set_main_data(data);
    append(b);
  }

  // The RecordBuilder features PG writes rarely, on an XLOG_NOOP (whose desc
  // reads no main data): origin, top-level xid, a WILL_INIT block with data, a
  // consistency-check image (no BKPIMAGE_APPLY) kept with its data, an image of
  // a non-standard page (no hole), and an lz4-flagged stored image with a hole;
  // plus a commit with xinfo (DBINFO) and an FPI of a non-standard page.
  void exotic(std::uint64_t step) {
    const std::uint32_t xid = next_xid_++;
    Page page;
    init_page(page, 99);
    add_tuple(page, static_cast<std::uint32_t>(step), 120);
    std::vector<std::uint8_t> data(40, static_cast<std::uint8_t>(step));
    std::vector<std::uint8_t> stored(900);
    for (std::size_t i = 0; i < stored.size(); ++i) stored[i] = static_cast<std::uint8_t>(i * 5 + step);
    wal::RecordBuilder b(wal::RM_XLOG_ID, wal::XLOG_NOOP);
    b.set_xid(xid).set_origin(static_cast<std::uint16_t>(1 + step % 7)).set_toplevel_xid(xid - 1);
    b.add_block(0, kRel, wal::MAIN_FORKNUM, 1000 + static_cast<std::uint32_t>(step % 50), data,
                /*will_init=*/true);
    b.add_block(1, kRel, wal::VISIBILITYMAP_FORKNUM, 3, data);
    b.add_image(page, /*standard=*/true, /*apply=*/false, /*keep_data=*/true);
    b.add_block(2, kRel2, wal::MAIN_FORKNUM, 7);
    b.add_image(page, /*standard=*/false);
    b.add_block(3, kRel2, wal::INIT_FORKNUM, 0);
    b.add_stored_image(stored, /*hole_offset=*/100, /*hole_length=*/4000,
                       wal::BKPIMAGE_HAS_HOLE | wal::BKPIMAGE_APPLY | wal::BKPIMAGE_COMPRESS_LZ4);
    append(b);
    ++c_.exotic;
    std::uint8_t dbinfo[8];
    wal::store_u32(dbinfo, 5);                          // dbId
    wal::store_u32(dbinfo + 4, wal::kDefaultTablespace);  // tsId
    append(wal::make_commit_record(xid, 817000000000000 + static_cast<std::int64_t>(step),
                                   wal::XACT_XINFO_HAS_DBINFO, dbinfo));
    append(wal::make_fpi_record(kRel, wal::MAIN_FORKNUM, 2000 + static_cast<std::uint32_t>(step % 9),
                                page, /*standard=*/false));
    ++c_.fpi;
  }

  void large_noop(std::uint32_t len) {
    std::vector<std::uint8_t> data(len);
    for (std::uint32_t i = 0; i < len; ++i) data[i] = static_cast<std::uint8_t>(i ^ (i >> 8));
    wal::RecordBuilder b(wal::RM_XLOG_ID, wal::XLOG_NOOP);
    b.set_main_data(data);
    append(b);
    ++c_.large;
  }

  // One transaction: changes 1..4 pages (FPI on first touch after a checkpoint,
  // a generic delta otherwise), then commits.
  void page_work(std::uint64_t step) {
    std::uint32_t xid = next_xid_++;
    int npages = 1 + static_cast<int>(step % 4);
    std::vector<Page> olds;
    olds.reserve(4);
    std::vector<wal::GenericBlock> blocks;
    std::vector<int> ids;
    for (int k = 0; k < npages; ++k) {
      int i = static_cast<int>((step * 3 + static_cast<std::uint64_t>(k) * 5) % kPages);
      bool dup = false;
      for (int id : ids) dup = dup || id == i;
      if (dup) continue;
      ids.push_back(i);
    }
    // Pages touched for the first time since the checkpoint: a standalone FPI
    // record of the modified page (hole = [pd_lower, pd_upper)).
    for (int i : ids) {
      Page& p = pages_[i];
      olds.push_back(p);
      std::uint16_t tuple_len = static_cast<std::uint16_t>(40 + (step * 7 + i) % 200);
      if (!add_tuple(p, static_cast<std::uint32_t>(step + i), tuple_len)) {
        init_page(p, static_cast<std::uint32_t>(i));
        add_tuple(p, static_cast<std::uint32_t>(step + i), tuple_len);
      }
      // An occasional in-place change in the tuple area.
      if (step % 5 == 0) p[8000] = static_cast<std::uint8_t>(p[8000] + 1);
    }
    for (std::size_t k = 0; k < ids.size(); ++k) {
      int i = ids[k];
      const wal::RelFileNode rel = i % 2 == 0 ? kRel : kRel2;
      if (!touched_[i]) {
        touched_[i] = true;
        auto placed = append(wal::make_fpi_record(rel, wal::MAIN_FORKNUM, static_cast<std::uint32_t>(i),
                                                  pages_[i], /*standard=*/true));
        ++c_.fpi;
        set_page_lsn(pages_[i], placed.end);
        olds[k] = pages_[i];
        continue;
      }
      wal::GenericBlock gb;
      gb.rel = rel;
      gb.fork = step % 50 == 0 ? wal::FSM_FORKNUM : wal::MAIN_FORKNUM;
      gb.blk = static_cast<std::uint32_t>(i);
      gb.old_page = &olds[k];
      gb.new_page = &pages_[i];
      gb.full_image = step % 37 == 0;
      blocks.push_back(gb);
    }
    if (!blocks.empty()) {
      auto placed = append(wal::make_generic_record(xid, blocks));
      ++c_.generic;
      for (int i : ids) set_page_lsn(pages_[i], placed.end);
    }
    append(wal::make_commit_record(xid, 817000000000000 + static_cast<std::int64_t>(step)));
  }

  std::uint64_t seg_size_;
  int target_segments_;
  Lsn start_;
  Lsn end_;
  wal::WalWriter writer_;
  SegmentWriter out_;
  Page pages_[kPages];
  bool touched_[kPages] = {};
  std::uint32_t next_xid_ = 740;
  std::uint64_t crossed_segno_ = 0;
  Counters c_;
};

}  // namespace
}  // namespace wq::waldump

int main(int argc, char** argv) {
  std::string dir;
  int segments = 3;
  std::uint64_t seg_size_mb = 16;
  CLI::App app{"walquorum-walgen: write PostgreSQL 15 WAL segments with walquorum's encoder",
               "walquorum-walgen"};
  app.add_option("--out,-o", dir, "directory for the segment files (created if missing)")->required();
  app.add_option("--segments", segments, "number of segment files to fill (>= 3)")
      ->check(CLI::Range(3, 64));
  app.add_option("--segment-size-mb", seg_size_mb, "segment size in MiB (power of two, 1..1024)");
  app.footer(
      "\nWrites segments 000000010000000000000001 onwards (timeline 1), full size, zero-padded\n"
      "after the last record, then prints records=N start=X/Y end=X/Y segments=K ... on stdout.\n"
      "Check with: pg_waldump -p DIR -s START -e END");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "walquorum-walgen: error: %s (see --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "walquorum-walgen: error: %s\n", e.what());
    return 2;
  }
  const std::uint64_t seg_size = seg_size_mb << 20;
  if (!wq::wal::valid_segment_size(seg_size)) {
    std::fprintf(stderr, "walquorum-walgen: error: --segment-size-mb %llu is not a power of two in 1..1024\n",
                 static_cast<unsigned long long>(seg_size_mb));
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "walquorum-walgen: error: could not create \"%s\": %s\n", dir.c_str(),
                 ec.message().c_str());
    return 2;
  }
  wq::waldump::Generator gen(dir, seg_size, segments);
  if (!gen.run()) return 2;
  gen.report();
  return 0;
}
