// WAL page headers: XLogPageHeaderData (24 bytes) and XLogLongPageHeaderData
// (40 bytes, the first page of every segment), with the checks PostgreSQL's
// XLogReaderValidatePageHeader applies (reference §1.2, §7.6, §7.11). Pure.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"
#include "wal/format.h"
#include "wal/lsn.h"

namespace wq::wal {

struct PageHeader {
  std::uint16_t magic = kPageMagic;
  std::uint16_t info = 0;       // XLP_* bits; XLP_LONG_HEADER must agree with is_long
  std::uint32_t tli = 0;
  Lsn pageaddr;
  std::uint32_t rem_len = 0;    // bytes of a continued record still to come (0 if none)
  bool is_long = false;         // the 40-byte form; fields below are meaningful only then
  std::uint64_t sysid = 0;
  std::uint32_t seg_size = 0;
  std::uint32_t blcksz = kBlockSize;

  std::uint32_t size() const { return is_long ? kLongPageHeaderSize : kShortPageHeaderSize; }
};

// Writes size() bytes (24 or 40) to out, padding bytes zero.
void encode_page_header(const PageHeader& header, std::uint8_t* out);

// Why a page header was refused; the decoder maps these to its end reasons.
enum class PageFault {
  kNone,
  kTooShort,       // fewer bytes than the header needs
  kZeroHeader,     // magic 0000 and the header bytes all zero: a zeroed/preallocated page
  kBadMagic,       // "invalid magic number %04X in log segment %s, offset %u"
  kBadInfo,        // "invalid info bits %04X ..." (stray bits, or no long header at offset 0)
  kWrongSystem,    // "WAL file is from different database system: ..."
  kBadPageAddr,    // "unexpected pageaddr %X/%X in log segment %s, offset %u"
};

struct PageCheck {
  std::uint64_t seg_size = kDefaultSegmentSize;
  std::uint64_t expected_sysid = 0;  // 0: unknown, not checked (as pg_waldump)
  std::uint32_t file_tli = 0;        // TLI used to name the segment in messages; 0: the page's
};

// Decodes and validates the header of the page at expected_pageaddr (a page
// boundary). bytes may hold more than the header. On failure the error is
// kCorrupt (kEndOfData when too short) with PostgreSQL's wording, and *fault
// (if given) says which check failed.
base::Result<PageHeader> decode_page_header(std::span<const std::uint8_t> bytes,
                                            Lsn expected_pageaddr, const PageCheck& check,
                                            PageFault* fault = nullptr);
// Convenience: seg_size only, sysid unchecked.
base::Result<PageHeader> decode_page_header(std::span<const std::uint8_t> bytes,
                                            Lsn expected_pageaddr, std::uint64_t seg_size);

}  // namespace wq::wal
