// The synthetic compute's page model: real 8 KiB PostgreSQL heap pages
// (PageHeaderData, line pointers, HeapTupleHeaders) and the few deterministic
// changes a TPC-C-like transaction makes to them. Every change is an Op, a
// compact description from which the exact bytes follow, so the truth journal
// (truth.h) can rebuild any page at any LSN without decoding WAL. Pure: no I/O.
#pragma once

#include <cstdint>

#include "wal/record.h"

namespace wq::compute {

using wal::Page;

inline constexpr std::uint32_t kPageHeaderSize = 24;   // SizeOfPageHeaderData
inline constexpr std::uint32_t kItemIdSize = 4;        // ItemIdData
inline constexpr std::uint32_t kTupleHeaderSize = 24;  // MAXALIGN(SizeofHeapTupleHeader = 23)
inline constexpr std::uint16_t kPageLayoutVersion = 4;

// splitmix64: the one source of "random" bytes in page contents, so a nonce
// names the same bytes everywhere.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// What one change does to one page. Sizes are in bytes of tuple data (after
// the 24-byte tuple header).
struct Op {
  enum Kind : std::uint8_t {
    kInitFilled = 1,  // PageInit, then tuples of `len` data bytes until the page is full (a loaded page)
    kInitEmpty = 2,   // PageInit only (a relation extended by one block)
    kUpdate = 3,      // in-place update of tuple `slot` (1-based): xmin = xid, `len` data bytes rewritten
    kInsert = 4,      // a new tuple of `len` data bytes with xmin = xid
  };
  Kind kind = kInitEmpty;
  std::uint16_t slot = 0;  // kUpdate: the line pointer number
  std::uint16_t len = 0;
  std::uint32_t xid = 0;
  std::uint64_t nonce = 0;  // picks the bytes written
  bool operator==(const Op&) const = default;
};

// Applies op to page. The hole [pd_lower, pd_upper) stays zero, as on a PostgreSQL
// primary after GenericXLogFinish. pd_lsn is left alone (set_page_lsn stamps it
// once the record's end LSN is known). The op must fit (see fits()); asserted.
void apply_op(Page& page, std::uint32_t blk, const Op& op);
// Whether op can be applied to page (an insert needs room, an update an existing slot).
bool fits(const Page& page, const Op& op);

// pd_lsn as PageXLogRecPtr: high 32 bits, then low 32 bits, each little-endian.
void set_page_lsn(Page& page, wal::Lsn lsn);
wal::Lsn page_lsn(const Page& page);

std::uint16_t pd_lower(const Page& page);
std::uint16_t pd_upper(const Page& page);
std::uint16_t item_count(const Page& page);  // line pointers on the page
std::uint32_t free_space(const Page& page);  // pd_upper - pd_lower

// A page PostgreSQL would accept (PageIsVerifiedExtended's header checks):
// flags within PD_VALID_FLAG_BITS, 24 <= pd_lower <= pd_upper <= pd_special <=
// 8192, pd_special MAXALIGNed, page size and layout version 8192|4, and every
// line pointer's tuple inside [pd_upper, pd_special). A new (all-zero) page is not valid here.
bool page_header_valid(const Page& page);

}  // namespace wq::compute
