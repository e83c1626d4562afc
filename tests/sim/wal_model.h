// The simulator's window onto the WAL layer: a generator of real PostgreSQL WAL
// records (laid into pages, xl_prev chained) for the workload, and a scanner
// that finds record boundaries on a simulated disk (the restart scan for the
// end of WAL, and the record-alignment checks). Everything here delegates to
// src/wal; the simulator never parses WAL itself.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "prng.h"
#include "wal/lsn.h"

namespace wq::sim {

using wal::Lsn;

struct WalParams {
  std::uint64_t seg_size = 1u << 20;
  std::uint64_t system_id = 7309535118473372161ull;
  std::uint32_t tli = 1;
};

// Where a timeline's first record goes: just after the long header of segment `segno`.
Lsn timeline_start_for(const WalParams& params, std::uint64_t segno);

struct GeneratedRecord {
  Lsn start;
  Lsn end;  // as PostgreSQL reports it (MAXALIGNed, page boundary if it ends in the last bytes)
};

// Generates WAL for one term: records starting at `begin` (a record boundary)
// whose first xl_prev is `prev_start` (the start of the record that ends at `begin`).
class WalGen {
 public:
  WalGen(const WalParams& params, Lsn begin, Lsn prev_start);
  // Appends `records` records of random kinds and sizes (generic-WAL page deltas,
  // full-page images, commits); returns their bytes [end() before, end() after).
  std::vector<std::uint8_t> batch(Prng& prng, int records, std::vector<GeneratedRecord>& out);
  Lsn end() const { return end_; }

 private:
  WalParams params_;
  Lsn end_;
  Lsn prev_start_;
  std::uint32_t xid_ = 1000;
};

// Bytes [page_start(at), at) that must precede the first record written at `at`
// on an empty disk: the page header (long at a segment start).
std::vector<std::uint8_t> page_prefix(const WalParams& params, Lsn at);

// Decodes records over `bytes` = the disk content [base, base + bytes.size()),
// starting at `from` (a record boundary). Stops at the first invalid or
// incomplete record or when a record would end past `stop_at` (if valid).
// Returns the end of the last whole valid record (`from` if none); when `ends`
// is given, appends each record's end LSN.
Lsn scan_records(const WalParams& params, std::span<const std::uint8_t> bytes, Lsn base,
                 Lsn from, Lsn stop_at, std::vector<Lsn>* ends);

}  // namespace wq::sim
