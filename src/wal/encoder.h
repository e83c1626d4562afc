// WAL that walquorum writes itself: a RecordBuilder that assembles a record the
// way PG15's XLogRecordAssemble does (block headers, FPIs with the
// REGBUF_STANDARD hole, SAME_REL, origin, top-level xid, short/long main data),
// ready-made builders for the record kinds we emit, and a WalWriter that lays
// records into pages and segments with correct page headers, continuation
// flags, xl_prev, CRC and MAXALIGN padding (reference §1.3, §1.5, §1.9, §2, §7.3,
// §7.4, §7.8). Pure: produces bytes, never writes files.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "wal/format.h"
#include "wal/lsn.h"
#include "wal/record.h"

namespace wq::wal {

class RecordBuilder {
 public:
  RecordBuilder() = default;
  RecordBuilder(std::uint8_t rmid, std::uint8_t info) : rmid_(rmid), info_(info) {}

  RecordBuilder& set_rmid(std::uint8_t rmid) { rmid_ = rmid; return *this; }
  RecordBuilder& set_info(std::uint8_t info) { info_ = info; return *this; }
  RecordBuilder& set_xid(std::uint32_t xid) { xid_ = xid; return *this; }
  RecordBuilder& set_origin(std::uint16_t origin) { origin_ = origin; return *this; }
  RecordBuilder& set_toplevel_xid(std::uint32_t xid) { toplevel_xid_ = xid; return *this; }
  // Main data; PG's rule picks the header: none for 0 bytes, short for 1..255, long above.
  RecordBuilder& set_main_data(std::span<const std::uint8_t> data);

  // Registers block `id` (0..32, strictly increasing across calls). data may be
  // empty (no HAS_DATA). SAME_REL is set automatically when rel equals the
  // previous block's rel.
  RecordBuilder& add_block(std::uint8_t id, RelFileNode rel, std::uint8_t fork, std::uint32_t blk,
                           std::span<const std::uint8_t> data = {}, bool will_init = false);
  // Attaches a full-page image of `page` to the block added last. standard=true
  // is REGBUF_STANDARD: the hole [pd_lower, pd_upper) is left out when
  // pd_lower >= 24, pd_upper > pd_lower and pd_upper <= 8192. apply=false makes a
  // wal_consistency_checking image (no BKPIMAGE_APPLY). keep_data=false drops the
  // block's data when the image is applied (PG's default without REGBUF_KEEP_DATA).
  RecordBuilder& add_image(const Page& page, bool standard = true, bool apply = true,
                           bool keep_data = false);
  // Attaches an already-stored image verbatim to the block added last (e.g. a
  // compressed image copied from another record): stored bytes, hole, bimg_info.
  RecordBuilder& add_stored_image(std::span<const std::uint8_t> stored, std::uint16_t hole_offset,
                                  std::uint16_t hole_length, std::uint8_t bimg_info);

  std::uint8_t rmid() const { return rmid_; }
  std::uint8_t info() const { return info_; }
  // Total record length this builder will produce.
  std::uint32_t total_length() const;
  // The whole record: header with xl_prev = 0 and xl_crc = 0, then the body.
  // WalWriter (or finalize_record) fills in xl_prev and the CRC.
  std::vector<std::uint8_t> build() const;

 private:
  struct Block {
    std::uint8_t id = 0;
    RelFileNode rel;
    std::uint8_t fork = 0;
    std::uint32_t blk = 0;
    bool will_init = false;
    std::vector<std::uint8_t> data;
    bool has_image = false;
    std::vector<std::uint8_t> image;  // stored bytes
    std::uint16_t hole_offset = 0;
    std::uint16_t hole_length = 0;
    std::uint8_t bimg_info = 0;
  };
  std::uint8_t rmid_ = 0;
  std::uint8_t info_ = 0;
  std::uint32_t xid_ = 0;
  std::optional<std::uint16_t> origin_;
  std::optional<std::uint32_t> toplevel_xid_;
  std::vector<std::uint8_t> main_data_;
  std::vector<Block> blocks_;
};

// Sets xl_prev and xl_crc of a complete record in place (tot_len must match size).
void finalize_record(std::span<std::uint8_t> record, Lsn prev);

// ---- Ready-made records ----------------------------------------------------------------

// Generic-WAL delta between two pages (reference §1.9): compares
// [0, new pd_lower) and [new pd_upper, 8192); bytes that were outside the old
// page's valid regions always count as changed; runs separated by <= 4
// matching bytes are merged. Fragments: u16 offset, u16 length, bytes.
std::vector<std::uint8_t> generic_delta(const Page& old_page, const Page& new_page);

struct GenericBlock {
  RelFileNode rel;
  std::uint8_t fork = MAIN_FORKNUM;
  std::uint32_t blk = 0;
  const Page* old_page = nullptr;  // null, or full_image: log a full image instead of a delta
  const Page* new_page = nullptr;
  bool full_image = false;
};
// RM_GENERIC_ID, info 0, blocks 0..n-1 (at most 4), no main data.
RecordBuilder make_generic_record(std::uint32_t xid, std::span<const GenericBlock> blocks);

// XLOG_FPI with one forced image of a standard page (block 0), no data, no main data.
RecordBuilder make_fpi_record(RelFileNode rel, std::uint8_t fork, std::uint32_t blk,
                              const Page& page, bool standard = true);

// XLOG_FPW_CHANGE: one bool byte; the record is 27 bytes.
RecordBuilder make_fpw_change_record(bool full_page_writes);

// XLOG_XACT_COMMIT: xact_time, plus xinfo (and XLOG_XACT_HAS_INFO) when xinfo != 0,
// followed by xinfo_payload verbatim (the parts the xinfo bits announce).
RecordBuilder make_commit_record(std::uint32_t xid, std::int64_t xact_time,
                                 std::uint32_t xinfo = 0,
                                 std::span<const std::uint8_t> xinfo_payload = {});

// CheckPoint (pg_control.h), 88 bytes with zero padding.
struct CheckPoint {
  Lsn redo;
  std::uint32_t tli = 1;
  std::uint32_t prev_tli = 1;
  bool full_page_writes = true;
  std::uint64_t next_xid = 0;  // FullTransactionId
  std::uint32_t next_oid = 0;
  std::uint32_t next_multi = 0;
  std::uint32_t next_multi_offset = 0;
  std::uint32_t oldest_xid = 0;
  std::uint32_t oldest_xid_db = 0;
  std::uint32_t oldest_multi = 0;
  std::uint32_t oldest_multi_db = 0;
  std::int64_t time = 0;  // pg_time_t, seconds since the Unix epoch
  std::uint32_t oldest_commit_ts_xid = 0;
  std::uint32_t newest_commit_ts_xid = 0;
  std::uint32_t oldest_active_xid = 0;
  bool operator==(const CheckPoint&) const = default;
};
void encode_checkpoint(const CheckPoint& cp, std::uint8_t* out /* kCheckPointSize bytes */);
// Needs exactly kCheckPointSize bytes; padding is not checked (reference §7.5).
base::Result<CheckPoint> decode_checkpoint(std::span<const std::uint8_t> body);
// XLOG_CHECKPOINT_ONLINE (or _SHUTDOWN): 24 + 2 + 88 = 114 bytes.
RecordBuilder make_checkpoint_record(const CheckPoint& cp, bool shutdown = false);

// XLOG_SWITCH: 24 bytes, no body. Use WalWriter::append_switch to place it.
RecordBuilder make_switch_record();

// ---- WalWriter ---------------------------------------------------------------------------

// Lays records into WAL pages starting at `start`. start is either a page
// boundary (the writer emits that page's header) or a position inside a page
// after its header where the previous record ended (the writer continues;
// the bytes before start are not its business). The bytes produced since the
// last take_bytes() always cover [bytes_start(), end_lsn()) exactly, padding
// included, except after pad_to_segment_end().
class WalWriter {
 public:
  WalWriter(Lsn start, std::uint32_t tli, std::uint64_t sysid,
            std::uint64_t seg_size = kDefaultSegmentSize, Lsn prev_record = {});

  struct Placed {
    Lsn start;  // the record's LSN
    Lsn end;    // its end LSN (reference §7.4); for XLOG_SWITCH the next segment boundary
  };
  Placed append(const RecordBuilder& record);
  // A complete record (header + body, xl_tot_len == size); xl_prev and xl_crc
  // are overwritten unless keep_prev_and_crc (for tests that plant bad records).
  Placed append_raw(std::span<const std::uint8_t> record, bool keep_prev_and_crc = false);
  // Places XLOG_SWITCH and zero-fills to the segment end (PG15: whole pages
  // zeroed, headers included). If end_lsn() is already a segment boundary no
  // record is written (as PG) and {end, end} is returned.
  Placed append_switch();

  // Zero-fills the rest of the current segment (a preallocated file's tail).
  // No record may be appended afterwards.
  void pad_to_segment_end();

  // Hands over the bytes produced so far; bytes_start() moves to their end.
  std::vector<std::uint8_t> take_bytes();
  // Read-only view of the pending bytes.
  std::span<const std::uint8_t> bytes() const { return buf_; }
  Lsn bytes_start() const { return bytes_start_; }
  Lsn end_lsn() const { return end_; }          // end of the last record (where WAL is valid to)
  Lsn prev_record() const { return prev_; }     // start of the last record
  // Where the next record will start (end_lsn(), plus a page header at a page boundary).
  Lsn next_record_lsn() const;
  std::uint32_t tli() const { return tli_; }
  std::uint64_t seg_size() const { return seg_size_; }
  // xlp_info bit 0x0004 on new pages (PG sets it when no backup is running).
  void set_bkp_removable(bool on) { bkp_removable_ = on; }

 private:
  void write_page_header(std::uint32_t rem_len);
  void append_zeros(std::uint64_t n);

  std::uint32_t tli_;
  std::uint64_t sysid_;
  std::uint64_t seg_size_;
  Lsn bytes_start_;
  Lsn end_;    // end of buffered bytes == end LSN of the last record
  Lsn prev_;
  bool bkp_removable_ = true;
  bool padded_ = false;
  std::vector<std::uint8_t> buf_;
};

}  // namespace wq::wal
