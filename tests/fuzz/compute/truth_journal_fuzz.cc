// libFuzzer target: compute::decode_journal, the reader of the synthetic
// compute's truth journal (a file `compute verify` reads back; a killed writer
// leaves a torn tail, a damaged disk anything). Decoding must not crash; errors
// are one-line kCorrupt; whatever decodes re-encodes to the same bytes (less a
// torn last entry), and pages rebuilt from it with reconstruct_page match a
// replay here. reconstruct_page asserts that every Op fits its page (the
// journal is the compute's own output), so the replay first checks fits() and
// rebuilds only pages whose Ops all fit.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "compute/truth.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wq::compute;
  std::span<const std::uint8_t> in(data, size);
  auto j = decode_journal(in);
  if (!j) {
    WQ_ASSERT(j.error().code == wq::base::ErrorCode::kCorrupt, "unexpected code: {}",
              j.error().message);
    WQ_ASSERT(j.error().message.find('\n') == std::string::npos, "multi-line error");
    return 0;
  }
  std::vector<std::uint8_t> again = encode_journal_header(j->spc, j->db);
  for (const JournalEntry& e : j->entries) {
    const std::size_t at = again.size();
    again.resize(at + kJournalEntrySize);
    encode_entry(e, again.data() + at);
  }
  WQ_ASSERT(again.size() <= size && again.size() + kJournalEntrySize > size,
            "{} entries re-encode to {} bytes of {}", j->entries.size(), again.size(), size);
  // Padding bytes inside an entry are not read, so compare the decoded values.
  auto j2 = decode_journal(again);
  WQ_ASSERT(j2.has_value() && j2->entries == j->entries && j2->spc == j->spc && j2->db == j->db,
            "re-encoded journal decodes differently");

  // Replay per page, at most 8 pages, checking that each Op fits.
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::pair<Page, bool>> pages;
  for (const JournalEntry& e : j->entries) {
    auto key = std::make_pair(e.rel, e.blk);
    auto it = pages.find(key);
    if (it == pages.end()) {
      if (pages.size() >= 8) continue;
      Page p;
      p.fill(0);
      it = pages.emplace(key, std::make_pair(p, true)).first;
    }
    auto& [page, ok] = it->second;
    if (!ok) continue;
    if (!fits(page, e.op)) {
      ok = false;
      continue;
    }
    apply_op(page, e.blk, e.op);
    set_page_lsn(page, e.end_lsn);
  }
  if (j->entries.empty()) return 0;
  const wq::wal::Lsn last = j->entries.back().end_lsn;
  for (const auto& [key, state] : pages) {
    if (!state.second) continue;
    auto rebuilt = reconstruct_page(j->entries, key.first, key.second, last);
    WQ_ASSERT(rebuilt.has_value() && *rebuilt == state.first,
              "reconstruct_page of rel {} blk {} differs from the replay", key.first, key.second);
  }
  return 0;
}
