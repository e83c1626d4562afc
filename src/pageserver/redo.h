// Page reconstruction: the newest base at or below an LSN (an image, or a
// WILL_INIT record starting from a zeroed page) plus the later deltas up to the
// LSN, applied in LSN order with PG's redo rules for full-page images and
// generic WAL (reference §1.7, §1.9). Records of any other resource manager are
// stored but cannot be replayed here. Pure: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "base/result.h"
#include "pageserver/keys.h"
#include "wal/lsn.h"
#include "wal/record.h"

namespace wq::pageserver {

struct StoredVersion {
  wal::Lsn lsn;  // the record's end LSN (the key's)
  Version version;
};

// Replays one stored record's block on `page` as PG redo would: an image with
// BKPIMAGE_APPLY is restored (pd_lsn stamped unless the page is new); a
// WILL_INIT block starts from zeros; a generic-WAL delta is applied, the hole
// zeroed and pd_lsn stamped. Other resource managers give kUnsupported
// "no redo for resource manager X".
base::Status redo_block(wal::Page& page, std::span<const std::uint8_t> record,
                        std::size_t block_index, wal::Lsn end_lsn);

struct Reconstructed {
  wal::Page page{};
  wal::Lsn base_lsn;
  std::size_t deltas_replayed = 0;
};

// base: the newest base <= the read LSN (nullopt: none). deltas: every delta in
// (base lsn, read LSN], ascending. Without a base the page cannot be built:
// kNotFound naming the page.
base::Result<Reconstructed> reconstruct(const PageId& page, const std::optional<StoredVersion>& base,
                                        std::span<const StoredVersion> deltas);

}  // namespace wq::pageserver
