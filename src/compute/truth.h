// The truth journal of the synthetic compute: one fixed-size entry per page
// change (the record's end LSN, the relation, the block and the Op), appended
// in LSN order. From it the exact bytes of any page at any LSN follow by
// replaying the Ops (page_model.h), without decoding WAL, which is what lets
// `compute verify` judge a pageserver's answers independently. Pure: encoding,
// decoding and reconstruction only; the file writer lives in compute.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "compute/page_model.h"
#include "wal/lsn.h"

namespace wq::compute {

struct JournalEntry {
  wal::Lsn end_lsn;  // end of the record that made the change; the page's pd_lsn after it
  std::uint32_t rel = 0;  // relfilenode (tablespace and database are the journal header's)
  std::uint32_t blk = 0;
  Op op;
  bool operator==(const JournalEntry&) const = default;
};

inline constexpr std::size_t kJournalEntrySize = 40;
inline constexpr std::size_t kJournalHeaderSize = 16;

// Header: "WQTRUTH1", then tablespace and database OIDs (u32 little-endian each).
std::vector<std::uint8_t> encode_journal_header(std::uint32_t spc, std::uint32_t db);
void encode_entry(const JournalEntry& e, std::uint8_t* out /* kJournalEntrySize bytes */);

struct Journal {
  std::uint32_t spc = 0, db = 0;
  std::vector<JournalEntry> entries;
};
// Decodes a whole journal file. A torn last entry (the writer was killed) is
// ignored; a bad header, an unknown op kind or LSNs going backwards is kCorrupt.
base::Result<Journal> decode_journal(std::span<const std::uint8_t> bytes);

// The page (rel, blk) as of `lsn`: every entry for it with end_lsn <= lsn
// replayed in order, pd_lsn = the last one's end_lsn. nullopt if the page had
// no change at or below lsn. Entries must be in journal (LSN) order.
std::optional<Page> reconstruct_page(std::span<const JournalEntry> entries, std::uint32_t rel,
                                     std::uint32_t blk, wal::Lsn lsn);

}  // namespace wq::compute
