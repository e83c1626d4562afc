// Image decompression and restoration. See image.h.
#include "pageserver/image.h"

#include <cstring>

#include <fmt/format.h>
#include <lz4.h>
#include <zstd.h>

namespace wq::pageserver {

namespace {
base::Unexpected corrupt(std::string message) {
  return base::Unexpected{base::ErrorCode::kCorrupt, std::move(message)};
}
}  // namespace

// The pglz stream: a control byte governs the next eight items, least
// significant bit first. A 0 bit is one literal byte. A 1 bit is a 2- or
// 3-byte tag: length (low nibble of byte 0) + 3, offset (high nibble of byte 0
// as bits 8..11, byte 1 as bits 0..7); a length nibble of 15 means a third byte
// adds to 18. The match copies from `offset` bytes back, byte by byte, so it
// may overlap its own output.
base::Status pglz_decompress(std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  std::size_t sp = 0, dp = 0;
  const std::size_t sn = in.size(), dn = out.size();
  while (sp < sn && dp < dn) {
    std::uint8_t ctrl = in[sp++];
    for (int bit = 0; bit < 8 && sp < sn && dp < dn; ++bit, ctrl >>= 1) {
      if ((ctrl & 1) == 0) {
        out[dp++] = in[sp++];
        continue;
      }
      if (sn - sp < 2) return corrupt(fmt::format("pglz: tag truncated at input byte {}", sp));
      std::size_t len = (in[sp] & 0x0F) + 3;
      std::size_t off = (static_cast<std::size_t>(in[sp] & 0xF0) << 4) | in[sp + 1];
      sp += 2;
      if (len == 18) {
        if (sp >= sn) return corrupt(fmt::format("pglz: extended length truncated at byte {}", sp));
        len += in[sp++];
      }
      if (off == 0 || off > dp) {
        return corrupt(fmt::format("pglz: match offset {} at output byte {} reaches before the start",
                                   off, dp));
      }
      if (len > dn - dp) {
        return corrupt(fmt::format("pglz: match of {} bytes at output byte {} passes the end ({})",
                                   len, dp, dn));
      }
      for (std::size_t i = 0; i < len; ++i, ++dp) out[dp] = out[dp - off];
    }
  }
  if (dp != dn || sp != sn) {
    return corrupt(fmt::format("pglz: produced {} of {} bytes, consumed {} of {} input bytes", dp, dn,
                               sp, sn));
  }
  return base::Ok{};
}

base::Status restore_block_image(const wal::BlockRef& block, std::span<const std::uint8_t> record,
                                 wal::Page& out) {
  if (block.compression == wal::BlockRef::kNone) return wal::restore_image(block, record, out);
  if (!block.has_image) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("block {} has no image", block.id)};
  }
  if (static_cast<std::uint64_t>(block.image_offset) + block.image_length > record.size() ||
      block.hole_length >= wal::kBlockSize || block.hole_offset > wal::kBlockSize - block.hole_length) {
    return corrupt(fmt::format("block {} compressed image geometry impossible: length {}, hole {}+{}",
                               block.id, block.image_length, block.hole_offset, block.hole_length));
  }
  std::span<const std::uint8_t> in = record.subspan(block.image_offset, block.image_length);
  const std::size_t want = wal::kBlockSize - block.hole_length;
  std::uint8_t tmp[wal::kBlockSize];
  switch (block.compression) {
    case wal::BlockRef::kPglz: {
      base::Status s = pglz_decompress(in, std::span<std::uint8_t>(tmp, want));
      if (!s) return corrupt(fmt::format("block {} image: {}", block.id, s.error().message));
      break;
    }
    case wal::BlockRef::kLz4: {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(tmp),
                                  static_cast<int>(in.size()), static_cast<int>(want));
      if (n < 0 || static_cast<std::size_t>(n) != want) {
        return corrupt(fmt::format("block {} image: lz4 gave {} bytes, expected {}", block.id, n, want));
      }
      break;
    }
    case wal::BlockRef::kZstd: {
      std::size_t n = ZSTD_decompress(tmp, want, in.data(), in.size());
      if (ZSTD_isError(n) || n != want) {
        return corrupt(fmt::format("block {} image: zstd {}, expected {} bytes", block.id,
                                   ZSTD_isError(n) ? std::string(ZSTD_getErrorName(n)) : fmt::format("gave {} bytes", n),
                                   want));
      }
      break;
    }
    case wal::BlockRef::kNone: break;
  }
  std::memcpy(out.data(), tmp, block.hole_offset);
  std::memset(out.data() + block.hole_offset, 0, block.hole_length);
  std::memcpy(out.data() + block.hole_offset + block.hole_length, tmp + block.hole_offset,
              want - block.hole_offset);
  return base::Ok{};
}

void set_page_lsn(wal::Page& page, wal::Lsn lsn) {
  wal::store_u32(page.data(), static_cast<std::uint32_t>(lsn.value() >> 32));
  wal::store_u32(page.data() + 4, static_cast<std::uint32_t>(lsn.value()));
}

wal::Lsn page_lsn(const wal::Page& page) {
  return wal::Lsn((static_cast<std::uint64_t>(wal::load_u32(page.data())) << 32) |
                  wal::load_u32(page.data() + 4));
}

bool page_is_new(const wal::Page& page) { return wal::load_u16(page.data() + 14) == 0; }

}  // namespace wq::pageserver
