// Truth journal encoding and page reconstruction (see truth.h).
#include "compute/truth.h"

#include <cstring>

namespace wq::compute {
namespace {
constexpr char kMagic[8] = {'W', 'Q', 'T', 'R', 'U', 'T', 'H', '1'};
}  // namespace

std::vector<std::uint8_t> encode_journal_header(std::uint32_t spc, std::uint32_t db) {
  std::vector<std::uint8_t> out(kJournalHeaderSize);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  wal::store_u32(out.data() + 8, spc);
  wal::store_u32(out.data() + 12, db);
  return out;
}

void encode_entry(const JournalEntry& e, std::uint8_t* out) {
  std::memset(out, 0, kJournalEntrySize);
  wal::store_u64(out + 0, e.end_lsn.value());
  wal::store_u32(out + 8, e.rel);
  wal::store_u32(out + 12, e.blk);
  out[16] = e.op.kind;
  wal::store_u16(out + 18, e.op.slot);
  wal::store_u16(out + 20, e.op.len);
  wal::store_u32(out + 24, e.op.xid);
  wal::store_u64(out + 32, e.op.nonce);
}

base::Result<Journal> decode_journal(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kJournalHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return base::Unexpected{base::ErrorCode::kCorrupt, "truth journal: bad header (expected WQTRUTH1)"};
  }
  Journal j;
  j.spc = wal::load_u32(bytes.data() + 8);
  j.db = wal::load_u32(bytes.data() + 12);
  std::size_t n = (bytes.size() - kJournalHeaderSize) / kJournalEntrySize;
  j.entries.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = bytes.data() + kJournalHeaderSize + i * kJournalEntrySize;
    JournalEntry e;
    e.end_lsn = wal::Lsn(wal::load_u64(p));
    e.rel = wal::load_u32(p + 8);
    e.blk = wal::load_u32(p + 12);
    if (p[16] < Op::kInitFilled || p[16] > Op::kInsert) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("truth journal: entry {} has unknown op kind {}", i, p[16])};
    }
    e.op.kind = static_cast<Op::Kind>(p[16]);
    e.op.slot = wal::load_u16(p + 18);
    e.op.len = wal::load_u16(p + 20);
    e.op.xid = wal::load_u32(p + 24);
    e.op.nonce = wal::load_u64(p + 32);
    if (!j.entries.empty() && e.end_lsn < j.entries.back().end_lsn) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("truth journal: entry {} at {} is below the previous {}", i,
                                          e.end_lsn, j.entries.back().end_lsn)};
    }
    j.entries.push_back(e);
  }
  return j;
}

std::optional<Page> reconstruct_page(std::span<const JournalEntry> entries, std::uint32_t rel,
                                     std::uint32_t blk, wal::Lsn lsn) {
  std::optional<Page> page;
  for (const JournalEntry& e : entries) {
    if (e.end_lsn > lsn) break;  // entries are in LSN order
    if (e.rel != rel || e.blk != blk) continue;
    if (!page) {
      page.emplace();
      page->fill(0);
    }
    apply_op(*page, blk, e.op);
    set_page_lsn(*page, e.end_lsn);
  }
  return page;
}

}  // namespace wq::compute
