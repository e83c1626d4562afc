// Page header encode/decode with PostgreSQL's validation. See page.h.
#include "wal/page.h"

#include <algorithm>
#include <cstring>

#include "wal/record.h"

namespace wq::wal {

void encode_page_header(const PageHeader& h, std::uint8_t* out) {
  std::memset(out, 0, h.size());
  store_u16(out + 0, h.magic);
  store_u16(out + 2, h.info);
  store_u32(out + 4, h.tli);
  store_u64(out + 8, h.pageaddr.value());
  store_u32(out + 16, h.rem_len);
  if (h.is_long) {
    store_u64(out + 24, h.sysid);
    store_u32(out + 32, h.seg_size);
    store_u32(out + 36, h.blcksz);
  }
}

base::Result<PageHeader> decode_page_header(std::span<const std::uint8_t> bytes,
                                            Lsn expected_pageaddr, const PageCheck& check,
                                            PageFault* fault) {
  auto fail = [&](PageFault f, base::ErrorCode code, std::string msg) {
    if (fault) *fault = f;
    return base::Unexpected{code, std::move(msg)};
  };
  if (fault) *fault = PageFault::kNone;
  if (bytes.size() < kShortPageHeaderSize) {
    return fail(PageFault::kTooShort, base::ErrorCode::kEndOfData,
                fmt::format("page header at {} needs {} bytes, have {}", expected_pageaddr,
                            kShortPageHeaderSize, bytes.size()));
  }
  const std::uint8_t* p = bytes.data();
  PageHeader h;
  h.magic = load_u16(p);
  h.info = load_u16(p + 2);
  h.tli = load_u32(p + 4);
  h.pageaddr = Lsn(load_u64(p + 8));
  h.rem_len = load_u32(p + 16);
  h.is_long = (h.info & XLP_LONG_HEADER) != 0;

  std::uint32_t name_tli = check.file_tli != 0 ? check.file_tli : h.tli;
  // Named only when a check fails: formatting it for every good page cost ~3% of decoding.
  auto seg = [&] {
    return segment_file_name(name_tli, segno_of(expected_pageaddr, check.seg_size), check.seg_size);
  };
  auto offset = static_cast<std::uint32_t>(segment_offset(expected_pageaddr, check.seg_size));

  if (h.magic != kPageMagic) {
    bool zero = std::all_of(p, p + kShortPageHeaderSize, [](std::uint8_t b) { return b == 0; });
    return fail(zero ? PageFault::kZeroHeader : PageFault::kBadMagic, base::ErrorCode::kCorrupt,
                fmt::format("invalid magic number {:04X} in log segment {}, offset {}", h.magic,
                            seg(), offset));
  }
  if ((h.info & ~XLP_ALL_FLAGS) != 0) {
    return fail(PageFault::kBadInfo, base::ErrorCode::kCorrupt,
                fmt::format("invalid info bits {:04X} in log segment {}, offset {}", h.info, seg(),
                            offset));
  }
  if (h.is_long) {
    if (bytes.size() < kLongPageHeaderSize) {
      return fail(PageFault::kTooShort, base::ErrorCode::kEndOfData,
                  fmt::format("long page header at {} needs {} bytes, have {}", expected_pageaddr,
                              kLongPageHeaderSize, bytes.size()));
    }
    h.sysid = load_u64(p + 24);
    h.seg_size = load_u32(p + 32);
    h.blcksz = load_u32(p + 36);
    if (check.expected_sysid != 0 && h.sysid != check.expected_sysid) {
      return fail(PageFault::kWrongSystem, base::ErrorCode::kCorrupt,
                  fmt::format("WAL file is from different database system: WAL file database "
                              "system identifier is {}, pg_control database system identifier is {}",
                              h.sysid, check.expected_sysid));
    }
    if (h.seg_size != check.seg_size) {
      return fail(PageFault::kWrongSystem, base::ErrorCode::kCorrupt,
                  fmt::format("WAL file is from different database system: incorrect segment size "
                              "in page header ({}, expected {})",
                              h.seg_size, check.seg_size));
    }
    if (h.blcksz != kBlockSize) {
      return fail(PageFault::kWrongSystem, base::ErrorCode::kCorrupt,
                  fmt::format("WAL file is from different database system: incorrect "
                              "XLOG_BLCKSZ in page header ({}, expected {})",
                              h.blcksz, kBlockSize));
    }
  } else if (offset == 0) {
    return fail(PageFault::kBadInfo, base::ErrorCode::kCorrupt,
                fmt::format("invalid info bits {:04X} in log segment {}, offset {}", h.info, seg(),
                            offset));
  }
  if (h.pageaddr != expected_pageaddr) {
    return fail(PageFault::kBadPageAddr, base::ErrorCode::kCorrupt,
                fmt::format("unexpected pageaddr {} in log segment {}, offset {}", h.pageaddr,
                            seg(), offset));
  }
  return h;
}

base::Result<PageHeader> decode_page_header(std::span<const std::uint8_t> bytes,
                                            Lsn expected_pageaddr, std::uint64_t seg_size) {
  PageCheck check;
  check.seg_size = seg_size;
  return decode_page_header(bytes, expected_pageaddr, check, nullptr);
}

}  // namespace wq::wal
