// Full-page images: PG's pglz decompressor (written from the format), LZ4 and
// zstd through their libraries, hole restoration and the page-LSN stamp redo
// applies (reference §1.5, §1.7, §7.9). Pure: no I/O.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"
#include "wal/lsn.h"
#include "wal/record.h"

namespace wq::pageserver {

// Decompresses a pglz stream into exactly out.size() bytes; anything else
// (short output, trailing input, a back-reference before the start) is kCorrupt.
base::Status pglz_decompress(std::span<const std::uint8_t> in, std::span<std::uint8_t> out);

// The page a block's stored image represents, decompressed and with its hole
// zero-filled (RestoreBlockImage). Works for any compression bit.
base::Status restore_block_image(const wal::BlockRef& block, std::span<const std::uint8_t> record,
                                 wal::Page& out);

// pd_lsn as PageXLogRecPtr: high 32 bits then low 32 bits, each little-endian.
void set_page_lsn(wal::Page& page, wal::Lsn lsn);
wal::Lsn page_lsn(const wal::Page& page);
// PageIsNew: pd_upper == 0.
bool page_is_new(const wal::Page& page);

}  // namespace wq::pageserver
