// Rmgr names, record end positions and segment file names. See format.h.
#include "wal/format.h"

#include <array>

namespace wq::wal {
namespace {

constexpr std::array<const char*, 22> kBuiltinNames = {
    "XLOG",     "Transaction", "Storage",   "CLOG",   "Database",   "Tablespace",
    "MultiXact", "RelMap",     "Standby",   "Heap2",  "Heap",       "Btree",
    "Hash",     "Gin",         "Gist",      "Sequence", "SPGist",   "BRIN",
    "CommitTs", "ReplicationOrigin", "Generic", "LogicalMessage"};

// "custom128".."custom255", built once at compile time so rmgr_name can return
// a pointer with static lifetime.
struct CustomNames {
  std::array<std::array<char, 10>, 128> names{};
  constexpr CustomNames() {
    for (int i = 0; i < 128; ++i) {
      int id = 128 + i;
      const char prefix[] = "custom";
      for (int k = 0; k < 6; ++k) names[i][k] = prefix[k];
      names[i][6] = static_cast<char>('0' + id / 100);
      names[i][7] = static_cast<char>('0' + (id / 10) % 10);
      names[i][8] = static_cast<char>('0' + id % 10);
      names[i][9] = '\0';
    }
  }
};
constexpr CustomNames kCustomNames;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // IsXLogFileName accepts upper-case only
}

bool parse_hex8(std::string_view s, std::uint32_t* out) {
  std::uint32_t v = 0;
  for (char c : s) {
    int d = hex_digit(c);
    if (d < 0) return false;
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

const char* rmgr_name(std::uint8_t rmid) {
  if (rmid <= RM_MAX_BUILTIN_ID) return kBuiltinNames[rmid];
  if (rmid >= RM_MIN_CUSTOM_ID) return kCustomNames.names[rmid - RM_MIN_CUSTOM_ID].data();
  return "invalid";
}

Lsn record_end_lsn(Lsn start, std::uint32_t tot_len, std::uint64_t seg_size) {
  std::uint64_t p = start.value();
  std::uint64_t remaining = tot_len;
  while (remaining > 0) {
    std::uint64_t page_left = kBlockSize - p % kBlockSize;
    if (remaining <= page_left) {
      p += remaining;
      break;
    }
    remaining -= page_left;
    p += page_left;
    p += page_header_size_at(Lsn(p), seg_size);
  }
  return Lsn(maxalign(p));
}

std::string segment_file_name(std::uint32_t tli, std::uint64_t segno, std::uint64_t seg_size) {
  std::uint64_t per_id = 0x100000000ull / seg_size;
  return fmt::format("{:08X}{:08X}{:08X}", tli, static_cast<std::uint32_t>(segno / per_id),
                     static_cast<std::uint32_t>(segno % per_id));
}

base::Result<SegmentName> parse_segment_file_name(std::string_view name, std::uint64_t seg_size) {
  auto bad = [&](const char* why) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("invalid WAL segment file name \"{}\": {}", name, why)};
  };
  if (!valid_segment_size(seg_size)) return bad("segment size is not a power of two in 1 MiB..1 GiB");
  SegmentName out;
  std::string_view hex = name;
  constexpr std::string_view kPartial = ".partial";
  if (hex.size() == 24 + kPartial.size() && hex.substr(24) == kPartial) {
    out.partial = true;
    hex = hex.substr(0, 24);
  }
  if (hex.size() != 24) return bad("expected 24 upper-case hex digits, optionally followed by .partial");
  std::uint32_t tli = 0, hi = 0, lo = 0;
  if (!parse_hex8(hex.substr(0, 8), &tli) || !parse_hex8(hex.substr(8, 8), &hi) ||
      !parse_hex8(hex.substr(16, 8), &lo)) {
    return bad("expected 24 upper-case hex digits, optionally followed by .partial");
  }
  std::uint64_t per_id = 0x100000000ull / seg_size;
  if (lo >= per_id) return bad("the low part is not below the number of segments per xlogid");
  out.tli = tli;
  out.segno = static_cast<std::uint64_t>(hi) * per_id + lo;
  return out;
}

}  // namespace wq::wal
