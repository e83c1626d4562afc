// Finding xl_prev for a compute that continues an existing timeline: the start
// of the last record that ends at term_start_lsn, found by decoding a window of
// the inherited WAL that ends there. Part of src/proposer; pure (wal only), so
// it is unit-tested on WalWriter output without a network.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"
#include "wal/format.h"
#include "wal/lsn.h"

namespace wq::proposer {

using wal::Lsn;

// `wal` holds the bytes [begin, end). `begin` is either a page boundary (a
// record may be continued from the page before it; that continuation is
// skipped) or the start of a record (the timeline's first LSN). `end` is a
// record boundary (MAXALIGNed end of a record, as flush_lsn is).
//
// Returns the start LSN of the last record that begins in the window, when the
// window decodes cleanly up to `end`; nullopt when no record begins in it (one
// record spans the whole window: the caller widens it backwards); kCorrupt
// naming the LSN when the bytes are not valid WAL up to `end` or `end` is not
// the end of a record.
base::Result<std::optional<Lsn>> find_last_record_start(std::span<const std::uint8_t> wal,
                                                        Lsn begin, Lsn end,
                                                        std::uint64_t seg_size = wal::kDefaultSegmentSize);

// Where to start a window of about `bytes` before `end`: a page boundary, but
// never before `floor` (the timeline's first LSN, itself returned when reached).
Lsn window_begin(Lsn end, std::uint64_t bytes, Lsn floor);

}  // namespace wq::proposer
