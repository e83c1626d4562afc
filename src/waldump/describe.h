// How walquorum-waldump prints a decoded record: pg_waldump's one-line form,
// a JSON object per record, and the per-resource-manager summary of --stats
// laid out like `pg_waldump --stats`. Pure formatting: strings in, strings out.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "wal/lsn.h"
#include "wal/record.h"

namespace wq::waldump {

// PG's rm_identify name of a record ("INSERT+INIT", "CHECKPOINT_ONLINE"), or
// "UNKNOWN (<info&0xF0 hex>)" where we have no table, as pg_waldump does.
std::string identify(const wal::DecodedRecord& rec);

// "rmgr: Heap        len (rec/tot):     54/   150, tx: ..., desc: INSERT ..., blkref #0: ..."
// (no trailing newline). The desc part is shorter than PostgreSQL's.
std::string format_text(const wal::DecodedRecord& rec);
// The same, appended to out (no allocation per record once out has grown).
void append_text(const wal::DecodedRecord& rec, fmt::memory_buffer& out);

// One JSON object (no trailing newline) with start_lsn, end_lsn, prev_lsn,
// rmgr, rmid, info, xid, total_len, rec_len, fpi_len, main_data_len and blocks.
std::string format_json(const wal::DecodedRecord& rec);
void append_json(const wal::DecodedRecord& rec, fmt::memory_buffer& out);

// Counters of --stats, per resource manager id.
struct RmgrStats {
  std::uint64_t count = 0;
  std::uint64_t rec_bytes = 0;  // xl_tot_len minus stored image bytes (pg_waldump's "Record size")
  std::uint64_t fpi_bytes = 0;  // stored image bytes
};

class Stats {
 public:
  void add(const wal::DecodedRecord& rec);
  // The table of `pg_waldump --stats` (header line included), each line ending in '\n'.
  std::string format(wal::Lsn start, wal::Lsn end) const;
  std::uint64_t records() const { return total_.count; }

 private:
  std::array<RmgrStats, 256> by_rmid_{};
  RmgrStats total_;
};

}  // namespace wq::waldump
