// Writes truth_journal_fuzz's seed corpus with the compute's own encoder:
// journals of a few pages (every Op kind, Ops that fit), one with a torn last
// entry, one with LSNs going backwards, one with a bad header. Deterministic.
// Usage: compute_fuzz_make_corpus OUT_DIR
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "compute/truth.h"

using namespace wq::compute;

namespace {

bool write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::vector<std::uint8_t> journal(const std::vector<JournalEntry>& entries) {
  std::vector<std::uint8_t> b = encode_journal_header(1663, 5);
  for (const JournalEntry& e : entries) {
    const std::size_t at = b.size();
    b.resize(at + kJournalEntrySize);
    encode_entry(e, b.data() + at);
  }
  return b;
}

JournalEntry entry(std::uint64_t lsn, std::uint32_t rel, std::uint32_t blk, Op::Kind kind,
                   std::uint16_t slot, std::uint16_t len, std::uint32_t xid) {
  JournalEntry e;
  e.end_lsn = wq::wal::Lsn(lsn);
  e.rel = rel;
  e.blk = blk;
  e.op.kind = kind;
  e.op.slot = slot;
  e.op.len = len;
  e.op.xid = xid;
  e.op.nonce = lsn * 2654435761u;
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: compute_fuzz_make_corpus OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<JournalEntry> pages = {
      entry(0x1000100, 16384, 0, Op::kInitFilled, 0, 60, 700),
      entry(0x1000200, 16384, 1, Op::kInitEmpty, 0, 0, 701),
      entry(0x1000300, 16384, 1, Op::kInsert, 0, 40, 702),
      entry(0x1000400, 16384, 1, Op::kInsert, 0, 100, 703),
      entry(0x1000500, 16384, 1, Op::kUpdate, 2, 100, 704),
      entry(0x1000500, 16384, 0, Op::kUpdate, 1, 60, 704),
      entry(0x1000600, 16385, 7, Op::kInitEmpty, 0, 0, 705),
  };
  bool ok = write(dir + "/pages", journal(pages));
  auto torn = journal(pages);
  torn.resize(torn.size() - 13);
  ok &= write(dir + "/torn_tail", torn);
  auto backwards = pages;
  backwards[3].end_lsn = wq::wal::Lsn(0x1000000);
  ok &= write(dir + "/lsn_backwards", journal(backwards));
  auto bad_kind = journal(pages);
  bad_kind[kJournalHeaderSize + kJournalEntrySize + 16] = 9;
  ok &= write(dir + "/bad_op_kind", bad_kind);
  ok &= write(dir + "/header_only", encode_journal_header(0, 0));
  ok &= write(dir + "/bad_header", {'W', 'Q', 'T', 'R', 'U', 'T', 'H', '2', 0, 0, 0, 0, 0, 0, 0, 0});
  if (!ok) {
    std::fprintf(stderr, "writing the corpus to %s failed\n", dir.c_str());
    return 1;
  }
  return 0;
}
