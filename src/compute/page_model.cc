// Heap page layout as in PostgreSQL 15 (bufpage.h, itemid.h, htup_details.h).
#include "compute/page_model.h"

#include <algorithm>
#include <cstring>

#include "base/assert.h"

namespace wq::compute {
namespace {

using wal::load_u16;
using wal::load_u32;
using wal::store_u16;
using wal::store_u32;

constexpr std::uint16_t kLpNormal = 1;
constexpr std::uint16_t kHeapXminFrozen = 0x0300;  // HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID
constexpr std::uint16_t kHeapXmaxInvalid = 0x0800;
constexpr std::uint32_t kFrozenXid = 2;
constexpr std::uint16_t kNatts = 4;

std::uint32_t maxalign(std::uint32_t n) { return (n + 7) & ~7u; }

void fill_bytes(std::uint8_t* out, std::uint32_t n, std::uint64_t seed) {
  std::uint64_t word = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (i % 8 == 0) word = mix64(seed + i);
    out[i] = static_cast<std::uint8_t>(word >> (8 * (i % 8)));
  }
}

void page_init(Page& page) {
  page.fill(0);
  store_u16(page.data() + 12, kPageHeaderSize);
  store_u16(page.data() + 14, static_cast<std::uint16_t>(wal::kBlockSize));
  store_u16(page.data() + 16, static_cast<std::uint16_t>(wal::kBlockSize));
  store_u16(page.data() + 18, static_cast<std::uint16_t>(wal::kBlockSize | kPageLayoutVersion));
}

std::uint32_t item_id(const Page& page, std::uint16_t slot) {
  return load_u32(page.data() + kPageHeaderSize + (slot - 1u) * kItemIdSize);
}

void write_tuple_header(std::uint8_t* t, std::uint32_t xmin, std::uint16_t infomask,
                        std::uint32_t blk, std::uint16_t slot) {
  store_u32(t + 0, xmin);
  store_u32(t + 4, 0);  // t_xmax
  store_u32(t + 8, 0);  // t_cid
  store_u16(t + 12, static_cast<std::uint16_t>(blk >> 16));
  store_u16(t + 14, static_cast<std::uint16_t>(blk & 0xFFFF));
  store_u16(t + 16, slot);
  store_u16(t + 18, kNatts);
  store_u16(t + 20, infomask);
  t[22] = static_cast<std::uint8_t>(kTupleHeaderSize);
  t[23] = 0;
}

void insert_tuple(Page& page, std::uint32_t blk, std::uint32_t xmin, std::uint16_t infomask,
                  std::uint16_t len, std::uint64_t seed) {
  std::uint16_t lower = pd_lower(page);
  std::uint32_t tuple_len = kTupleHeaderSize + len;
  auto upper = static_cast<std::uint16_t>(pd_upper(page) - maxalign(tuple_len));
  auto slot = static_cast<std::uint16_t>((lower - kPageHeaderSize) / kItemIdSize + 1);
  std::uint32_t lp = upper | (static_cast<std::uint32_t>(kLpNormal) << 15) | (tuple_len << 17);
  store_u32(page.data() + lower, lp);
  std::uint8_t* t = page.data() + upper;
  std::memset(t, 0, maxalign(tuple_len));
  write_tuple_header(t, xmin, infomask, blk, slot);
  fill_bytes(t + kTupleHeaderSize, len, seed);
  store_u16(page.data() + 12, static_cast<std::uint16_t>(lower + kItemIdSize));
  store_u16(page.data() + 14, upper);
}

}  // namespace

std::uint16_t pd_lower(const Page& page) { return load_u16(page.data() + 12); }
std::uint16_t pd_upper(const Page& page) { return load_u16(page.data() + 14); }
std::uint16_t item_count(const Page& page) {
  std::uint16_t lower = pd_lower(page);
  return lower < kPageHeaderSize ? 0 : static_cast<std::uint16_t>((lower - kPageHeaderSize) / kItemIdSize);
}
std::uint32_t free_space(const Page& page) {
  std::uint16_t lower = pd_lower(page), upper = pd_upper(page);
  return upper > lower ? upper - lower : 0;
}

void set_page_lsn(Page& page, wal::Lsn lsn) {
  store_u32(page.data(), static_cast<std::uint32_t>(lsn.value() >> 32));
  store_u32(page.data() + 4, static_cast<std::uint32_t>(lsn.value()));
}

wal::Lsn page_lsn(const Page& page) {
  return wal::Lsn((static_cast<std::uint64_t>(load_u32(page.data())) << 32) | load_u32(page.data() + 4));
}

bool fits(const Page& page, const Op& op) {
  switch (op.kind) {
    case Op::kInitFilled:
      return kPageHeaderSize + kItemIdSize + maxalign(kTupleHeaderSize + op.len) <= wal::kBlockSize;
    case Op::kInitEmpty:
      return true;
    case Op::kInsert:
      return free_space(page) >= kItemIdSize + maxalign(kTupleHeaderSize + op.len);
    case Op::kUpdate: {
      if (op.slot == 0 || op.slot > item_count(page)) return false;
      std::uint32_t lp_len = item_id(page, op.slot) >> 17;
      return lp_len >= kTupleHeaderSize + op.len;
    }
  }
  return false;
}

void apply_op(Page& page, std::uint32_t blk, const Op& op) {
  WQ_ASSERT(fits(page, op), "op kind {} slot {} len {} does not fit block {} (free {})",
            static_cast<int>(op.kind), op.slot, op.len, blk, free_space(page));
  switch (op.kind) {
    case Op::kInitEmpty:
      page_init(page);
      return;
    case Op::kInitFilled: {
      page_init(page);
      std::uint32_t need = kItemIdSize + maxalign(kTupleHeaderSize + op.len);
      for (std::uint16_t i = 0; free_space(page) >= need; ++i) {
        insert_tuple(page, blk, kFrozenXid, kHeapXminFrozen | kHeapXmaxInvalid, op.len,
                     mix64(op.nonce + i));
      }
      return;
    }
    case Op::kInsert:
      insert_tuple(page, blk, op.xid, kHeapXmaxInvalid, op.len, op.nonce);
      return;
    case Op::kUpdate: {
      std::uint32_t lp = item_id(page, op.slot);
      std::uint32_t off = lp & 0x7FFF;
      std::uint32_t data_len = (lp >> 17) - kTupleHeaderSize;
      std::uint8_t* t = page.data() + off;
      store_u32(t + 0, op.xid);
      store_u16(t + 20, kHeapXmaxInvalid);
      // The changed columns: len bytes at a nonce-chosen place in the row.
      std::uint32_t at = static_cast<std::uint32_t>(op.nonce % (data_len - op.len + 1));
      fill_bytes(t + kTupleHeaderSize + at, op.len, op.nonce);
      return;
    }
  }
}

bool page_header_valid(const Page& page) {
  std::uint16_t flags = load_u16(page.data() + 10);
  std::uint16_t lower = pd_lower(page), upper = pd_upper(page);
  std::uint16_t special = load_u16(page.data() + 16);
  if ((flags & ~0x0007u) != 0) return false;  // PD_VALID_FLAG_BITS
  if (lower < kPageHeaderSize || lower > upper || upper > special || special > wal::kBlockSize) {
    return false;
  }
  if (special != maxalign(special)) return false;
  if (load_u16(page.data() + 18) != (wal::kBlockSize | kPageLayoutVersion)) return false;
  for (std::uint16_t s = 1; s <= item_count(page); ++s) {
    std::uint32_t lp = item_id(page, s);
    std::uint32_t off = lp & 0x7FFF, len = lp >> 17;
    if (((lp >> 15) & 3) != kLpNormal || off < upper || off + len > special || off != maxalign(off)) {
      return false;
    }
  }
  // The hole is zero, as GenericXLogFinish leaves it.
  return std::all_of(page.begin() + lower, page.begin() + upper, [](std::uint8_t b) { return b == 0; });
}

}  // namespace wq::compute
