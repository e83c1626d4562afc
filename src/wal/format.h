// PostgreSQL 15 WAL format constants and segment arithmetic (reference §1.1,
// §1.2, §1.4, §1.5, §1.8). Constants that PostgreSQL defines keep PostgreSQL's
// own names (XLP_*, BKPBLOCK_*, RM_*, XLOG_*) so they grep against its source;
// walquorum's own constants are kPascalCase. Pure: no I/O.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "wal/lsn.h"

namespace wq::wal {

// ---- Sizes -------------------------------------------------------------------------
inline constexpr std::uint32_t kBlockSize = 8192;             // XLOG_BLCKSZ == BLCKSZ
inline constexpr std::uint16_t kPageMagic = 0xD110;           // XLOG_PAGE_MAGIC, PG15
inline constexpr std::uint32_t kShortPageHeaderSize = 24;     // SizeOfXLogShortPHD
inline constexpr std::uint32_t kLongPageHeaderSize = 40;      // SizeOfXLogLongPHD
inline constexpr std::uint32_t kRecordHeaderSize = 24;        // SizeOfXLogRecord
inline constexpr std::uint32_t kRecordCrcOffset = 20;         // offsetof(XLogRecord, xl_crc)
inline constexpr std::uint32_t kMaxAlign = 8;                 // MAXALIGN
inline constexpr std::uint64_t kDefaultSegmentSize = 16ull << 20;
inline constexpr std::uint64_t kMinSegmentSize = 1ull << 20;
inline constexpr std::uint64_t kMaxSegmentSize = 1ull << 30;
inline constexpr std::uint32_t kPageHeaderSizeOfDataPage = 24;  // SizeOfPageHeaderData (bufpage.h)

// ---- xlp_info ----------------------------------------------------------------------
inline constexpr std::uint16_t XLP_FIRST_IS_CONTRECORD = 0x0001;
inline constexpr std::uint16_t XLP_LONG_HEADER = 0x0002;
inline constexpr std::uint16_t XLP_BKP_REMOVABLE = 0x0004;
inline constexpr std::uint16_t XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
inline constexpr std::uint16_t XLP_ALL_FLAGS = 0x000F;

// ---- xl_info -----------------------------------------------------------------------
inline constexpr std::uint8_t XLR_INFO_MASK = 0x0F;
inline constexpr std::uint8_t XLR_RMGR_INFO_MASK = 0xF0;
inline constexpr std::uint8_t XLR_SPECIAL_REL_UPDATE = 0x01;
inline constexpr std::uint8_t XLR_CHECK_CONSISTENCY = 0x02;

// ---- Block reference headers ---------------------------------------------------------
inline constexpr std::uint8_t XLR_MAX_BLOCK_ID = 32;
inline constexpr std::uint8_t XLR_NORMAL_MAX_BLOCK_ID = 4;
inline constexpr std::uint8_t XLR_BLOCK_ID_DATA_SHORT = 255;
inline constexpr std::uint8_t XLR_BLOCK_ID_DATA_LONG = 254;
inline constexpr std::uint8_t XLR_BLOCK_ID_ORIGIN = 253;
inline constexpr std::uint8_t XLR_BLOCK_ID_TOPLEVEL_XID = 252;

inline constexpr std::uint8_t BKPBLOCK_FORK_MASK = 0x0F;
inline constexpr std::uint8_t BKPBLOCK_HAS_IMAGE = 0x10;
inline constexpr std::uint8_t BKPBLOCK_HAS_DATA = 0x20;
inline constexpr std::uint8_t BKPBLOCK_WILL_INIT = 0x40;
inline constexpr std::uint8_t BKPBLOCK_SAME_REL = 0x80;

// PG15 values; PG14 and earlier differ (reference §6).
inline constexpr std::uint8_t BKPIMAGE_HAS_HOLE = 0x01;
inline constexpr std::uint8_t BKPIMAGE_APPLY = 0x02;
inline constexpr std::uint8_t BKPIMAGE_COMPRESS_PGLZ = 0x04;
inline constexpr std::uint8_t BKPIMAGE_COMPRESS_LZ4 = 0x08;
inline constexpr std::uint8_t BKPIMAGE_COMPRESS_ZSTD = 0x10;
inline constexpr std::uint8_t BKPIMAGE_COMPRESSED_MASK = 0x1C;

inline constexpr std::uint32_t kBlockHeaderSize = 4;        // SizeOfXLogRecordBlockHeader
inline constexpr std::uint32_t kBlockImageHeaderSize = 5;   // SizeOfXLogRecordBlockImageHeader
inline constexpr std::uint32_t kBlockCompressHeaderSize = 2;
inline constexpr std::uint32_t kRelFileNodeSize = 12;

// Fork numbers (common/relpath.h).
inline constexpr std::uint8_t MAIN_FORKNUM = 0;
inline constexpr std::uint8_t FSM_FORKNUM = 1;
inline constexpr std::uint8_t VISIBILITYMAP_FORKNUM = 2;
inline constexpr std::uint8_t INIT_FORKNUM = 3;

// ---- Resource managers (rmgrlist.h order) ---------------------------------------------
inline constexpr std::uint8_t RM_XLOG_ID = 0;
inline constexpr std::uint8_t RM_XACT_ID = 1;
inline constexpr std::uint8_t RM_SMGR_ID = 2;
inline constexpr std::uint8_t RM_CLOG_ID = 3;
inline constexpr std::uint8_t RM_DBASE_ID = 4;
inline constexpr std::uint8_t RM_TBLSPC_ID = 5;
inline constexpr std::uint8_t RM_MULTIXACT_ID = 6;
inline constexpr std::uint8_t RM_RELMAP_ID = 7;
inline constexpr std::uint8_t RM_STANDBY_ID = 8;
inline constexpr std::uint8_t RM_HEAP2_ID = 9;
inline constexpr std::uint8_t RM_HEAP_ID = 10;
inline constexpr std::uint8_t RM_BTREE_ID = 11;
inline constexpr std::uint8_t RM_HASH_ID = 12;
inline constexpr std::uint8_t RM_GIN_ID = 13;
inline constexpr std::uint8_t RM_GIST_ID = 14;
inline constexpr std::uint8_t RM_SEQ_ID = 15;
inline constexpr std::uint8_t RM_SPGIST_ID = 16;
inline constexpr std::uint8_t RM_BRIN_ID = 17;
inline constexpr std::uint8_t RM_COMMIT_TS_ID = 18;
inline constexpr std::uint8_t RM_REPLORIGIN_ID = 19;
inline constexpr std::uint8_t RM_GENERIC_ID = 20;
inline constexpr std::uint8_t RM_LOGICALMSG_ID = 21;
inline constexpr std::uint8_t RM_MAX_BUILTIN_ID = 21;
inline constexpr std::uint8_t RM_MIN_CUSTOM_ID = 128;
inline constexpr std::uint8_t RM_EXPERIMENTAL_ID = 128;

// True for 0..21 and 128..255 (RmgrIdIsValid).
constexpr bool rmgr_id_valid(std::uint8_t rmid) {
  return rmid <= RM_MAX_BUILTIN_ID || rmid >= RM_MIN_CUSTOM_ID;
}
// The name pg_waldump prints ("Heap2", "Generic", "custom130"); "invalid" for 22..127.
const char* rmgr_name(std::uint8_t rmid);

// ---- RM_XLOG_ID info values (pg_control.h) ---------------------------------------------
inline constexpr std::uint8_t XLOG_CHECKPOINT_SHUTDOWN = 0x00;
inline constexpr std::uint8_t XLOG_CHECKPOINT_ONLINE = 0x10;
inline constexpr std::uint8_t XLOG_NOOP = 0x20;
inline constexpr std::uint8_t XLOG_NEXTOID = 0x30;
inline constexpr std::uint8_t XLOG_SWITCH = 0x40;
inline constexpr std::uint8_t XLOG_BACKUP_END = 0x50;
inline constexpr std::uint8_t XLOG_PARAMETER_CHANGE = 0x60;
inline constexpr std::uint8_t XLOG_RESTORE_POINT = 0x70;
inline constexpr std::uint8_t XLOG_FPW_CHANGE = 0x80;
inline constexpr std::uint8_t XLOG_END_OF_RECOVERY = 0x90;
inline constexpr std::uint8_t XLOG_FPI_FOR_HINT = 0xA0;
inline constexpr std::uint8_t XLOG_FPI = 0xB0;
inline constexpr std::uint8_t XLOG_OVERWRITE_CONTRECORD = 0xD0;
inline constexpr std::uint32_t kCheckPointSize = 88;  // sizeof(CheckPoint)

// ---- RM_XACT_ID info values (xact.h) --------------------------------------------------
inline constexpr std::uint8_t XLOG_XACT_COMMIT = 0x00;
inline constexpr std::uint8_t XLOG_XACT_PREPARE = 0x10;
inline constexpr std::uint8_t XLOG_XACT_ABORT = 0x20;
inline constexpr std::uint8_t XLOG_XACT_COMMIT_PREPARED = 0x30;
inline constexpr std::uint8_t XLOG_XACT_ABORT_PREPARED = 0x40;
inline constexpr std::uint8_t XLOG_XACT_ASSIGNMENT = 0x50;
inline constexpr std::uint8_t XLOG_XACT_INVALIDATIONS = 0x60;
inline constexpr std::uint8_t XLOG_XACT_OPMASK = 0x70;
inline constexpr std::uint8_t XLOG_XACT_HAS_INFO = 0x80;
inline constexpr std::uint32_t XACT_XINFO_HAS_DBINFO = 1u << 0;
inline constexpr std::uint32_t XACT_XINFO_HAS_SUBXACTS = 1u << 1;
inline constexpr std::uint32_t XACT_XINFO_HAS_RELFILENODES = 1u << 2;
inline constexpr std::uint32_t XACT_XINFO_HAS_INVALS = 1u << 3;
inline constexpr std::uint32_t XACT_XINFO_HAS_TWOPHASE = 1u << 4;
inline constexpr std::uint32_t XACT_XINFO_HAS_ORIGIN = 1u << 5;
inline constexpr std::uint32_t XACT_XINFO_HAS_AE_LOCKS = 1u << 6;
inline constexpr std::uint32_t XACT_XINFO_HAS_GID = 1u << 7;
inline constexpr std::uint32_t XACT_XINFO_HAS_DROPPED_STATS = 1u << 8;

// ---- Relations -----------------------------------------------------------------------
// RelFileNode: 12 bytes on disk, spcNode/dbNode/relNode.
struct RelFileNode {
  std::uint32_t spc = 0;
  std::uint32_t db = 0;
  std::uint32_t rel = 0;
  constexpr auto operator<=>(const RelFileNode&) const = default;
};
inline constexpr std::uint32_t kDefaultTablespace = 1663;
inline constexpr std::uint32_t kGlobalTablespace = 1664;

// ---- Alignment, pages, segments --------------------------------------------------------
constexpr std::uint64_t maxalign(std::uint64_t v) { return (v + 7) & ~std::uint64_t{7}; }
constexpr Lsn maxalign(Lsn lsn) { return Lsn(maxalign(lsn.value())); }
constexpr bool is_page_aligned(Lsn lsn) { return lsn.value() % kBlockSize == 0; }
constexpr std::uint32_t page_offset(Lsn lsn) {
  return static_cast<std::uint32_t>(lsn.value() % kBlockSize);
}
constexpr Lsn page_start(Lsn lsn) { return Lsn(lsn.value() - lsn.value() % kBlockSize); }

// Power of two in [1 MiB, 1 GiB] (IsValidWalSegSize).
constexpr bool valid_segment_size(std::uint64_t seg_size) {
  return seg_size >= kMinSegmentSize && seg_size <= kMaxSegmentSize &&
         (seg_size & (seg_size - 1)) == 0;
}
// Callers pass a valid segment size (checked where it enters: config, page 0 header).
constexpr std::uint64_t segno_of(Lsn lsn, std::uint64_t seg_size) { return lsn.value() / seg_size; }
// Segment of the byte just before lsn (XLByteToPrevSeg): where a record ending at lsn ends.
constexpr std::uint64_t prev_segno_of(Lsn lsn, std::uint64_t seg_size) {
  return (lsn.value() - 1) / seg_size;
}
constexpr std::uint64_t segment_offset(Lsn lsn, std::uint64_t seg_size) {
  return lsn.value() & (seg_size - 1);
}
constexpr Lsn segment_start(std::uint64_t segno, std::uint64_t seg_size) {
  return Lsn(segno * seg_size);
}
constexpr bool is_segment_aligned(Lsn lsn, std::uint64_t seg_size) {
  return (lsn.value() & (seg_size - 1)) == 0;
}
// Size of the page header of the page starting at page_lsn: 40 at a segment start, else 24.
constexpr std::uint32_t page_header_size_at(Lsn page_lsn, std::uint64_t seg_size) {
  return is_segment_aligned(page_lsn, seg_size) ? kLongPageHeaderSize : kShortPageHeaderSize;
}

// End LSN of a record of tot_len bytes starting at start, as PG's reader and
// XLogInsert report it: the byte after its last byte, MAXALIGNed; a record that
// ends in the last bytes of a page ends at the page boundary (reference §7.4).
// XLOG_SWITCH is not special-cased here (the reader's end is the segment end).
Lsn record_end_lsn(Lsn start, std::uint32_t tot_len, std::uint64_t seg_size);

// "%08X%08X%08X": tli, segno / segments-per-xlogid, segno % segments-per-xlogid.
std::string segment_file_name(std::uint32_t tli, std::uint64_t segno, std::uint64_t seg_size);

struct SegmentName {
  std::uint32_t tli = 0;
  std::uint64_t segno = 0;
  bool partial = false;  // the name ended in ".partial"
};
// Parses 24 hex digits (upper-case, as IsXLogFileName requires), optionally
// followed by ".partial". Errors are kInvalidArgument and quote the name.
base::Result<SegmentName> parse_segment_file_name(std::string_view name, std::uint64_t seg_size);

}  // namespace wq::wal
