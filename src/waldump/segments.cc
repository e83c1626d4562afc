// Segment discovery and chunked reads for walquorum-waldump.
#include "waldump/segments.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "wal/format.h"
#include "wal/record.h"

namespace wq::waldump {

namespace fs = std::filesystem;
using base::ErrorCode;
using base::Unexpected;

namespace {

struct Candidate {
  std::string path;
  std::string name;
  bool explicit_path;
};

bool looks_like_segment_name(std::string_view name, bool allow_partial) {
  if (allow_partial && name.size() == 32 && name.substr(24) == ".partial") name = name.substr(0, 24);
  if (name.size() != 24) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

// The timeline of a name already checked by looks_like_segment_name.
std::uint32_t name_tli(const std::string& name) {
  return static_cast<std::uint32_t>(std::strtoul(name.substr(0, 8).c_str(), nullptr, 16));
}

// Reads xlp_seg_size from the first page of a segment, as pg_waldump does.
base::Result<std::uint64_t> detect_segment_size(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Unexpected{ErrorCode::kIo, fmt::format("could not open \"{}\": {}", path,
                                                  std::strerror(errno))};
  }
  std::uint8_t hdr[wal::kLongPageHeaderSize];
  std::size_t n = std::fread(hdr, 1, sizeof hdr, f);
  std::fclose(f);
  if (n != sizeof hdr) {
    return Unexpected{ErrorCode::kEndOfData,
                      fmt::format("could not read the long page header of \"{}\": read {} of {} bytes",
                                  path, n, sizeof hdr)};
  }
  std::uint16_t magic = wal::load_u16(hdr);
  std::uint64_t seg_size = wal::load_u32(hdr + 32);
  if (magic != wal::kPageMagic || !wal::valid_segment_size(seg_size)) {
    return Unexpected{ErrorCode::kCorrupt,
                      fmt::format("\"{}\" has no valid long page header (magic {:04X}, segment size "
                                  "{}; expected magic {:04X} and a power of two from 1 MiB to 1 GiB)",
                                  path, magic, seg_size, wal::kPageMagic)};
  }
  return seg_size;
}

}  // namespace

base::Result<SegmentSet> collect_segments(const std::vector<std::string>& paths,
                                          std::uint32_t timeline) {
  std::vector<Candidate> found;
  for (const std::string& p : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      return Unexpected{ErrorCode::kNotFound, fmt::format("\"{}\" does not exist", p)};
    }
    if (fs::is_directory(st)) {
      fs::directory_iterator it(p, ec), end;
      if (ec) {
        return Unexpected{ErrorCode::kIo,
                          fmt::format("could not list directory \"{}\": {}", p, ec.message())};
      }
      for (; it != end; it.increment(ec)) {
        if (ec) {
          return Unexpected{ErrorCode::kIo,
                            fmt::format("could not list directory \"{}\": {}", p, ec.message())};
        }
        std::string name = it->path().filename().string();
        if (!looks_like_segment_name(name, /*allow_partial=*/false)) continue;
        std::error_code ec2;
        if (!it->is_regular_file(ec2)) continue;
        found.push_back({it->path().string(), name, false});
      }
    } else {
      std::string name = fs::path(p).filename().string();
      if (!looks_like_segment_name(name, /*allow_partial=*/true)) {
        return Unexpected{ErrorCode::kInvalidArgument,
                          fmt::format("\"{}\" is not a WAL segment name (expected 24 upper-case hex "
                                      "digits, optionally followed by .partial)", name)};
      }
      found.push_back({p, name, true});
    }
  }
  if (found.empty()) {
    return Unexpected{ErrorCode::kNotFound, "no WAL segment files (24 hex digits) found in the given paths"};
  }
  // Names sort like (tli, segno): fixed-width upper-case hex.
  std::sort(found.begin(), found.end(),
            [](const Candidate& a, const Candidate& b) { return a.name < b.name; });

  SegmentSet set;
  // The timeline decides which file gives the segment size.
  std::uint32_t tli = timeline;
  if (tli == 0) tli = name_tli(found.front().name);
  set.tli = tli;
  const Candidate* first = nullptr;
  for (const Candidate& c : found) {
    if (name_tli(c.name) == tli) {
      first = &c;
      break;
    }
  }
  if (first == nullptr) {
    return Unexpected{ErrorCode::kNotFound,
                      fmt::format("no segment files of timeline {} found", tli)};
  }
  auto seg_size = detect_segment_size(first->path);
  if (!seg_size) return Unexpected{seg_size.error()};
  set.seg_size = *seg_size;

  for (const Candidate& c : found) {
    auto parsed = wal::parse_segment_file_name(c.name, set.seg_size);
    if (!parsed) {
      return Unexpected{ErrorCode::kInvalidArgument,
                        fmt::format("\"{}\": {}", c.path, parsed.error().message)};
    }
    if (parsed->tli != tli) continue;
    SegmentFile seg{c.path, c.name, parsed->tli, parsed->segno, parsed->partial, c.explicit_path};
    auto [it, inserted] = set.by_segno.emplace(seg.segno, seg);
    if (!inserted) {
      // The same segment twice (a directory and a file, or X and X.partial):
      // prefer the complete file, then the one named explicitly.
      SegmentFile& have = it->second;
      bool better = (have.partial && !seg.partial) ||
                    (have.partial == seg.partial && seg.explicit_path && !have.explicit_path);
      if (better) have = seg;
    }
  }
  return set;
}

SegmentReader::~SegmentReader() { close(); }

void SegmentReader::close() {
  if (f_ != nullptr) std::fclose(f_);
  f_ = nullptr;
}

base::Status SegmentReader::open(const std::string& path, std::uint64_t offset) {
  close();
  path_ = path;
  f_ = std::fopen(path.c_str(), "rb");
  if (f_ == nullptr) {
    return Unexpected{ErrorCode::kIo,
                      fmt::format("could not open \"{}\": {}", path, std::strerror(errno))};
  }
  if (offset != 0 && std::fseek(f_, static_cast<long>(offset), SEEK_SET) != 0) {
    return Unexpected{ErrorCode::kIo, fmt::format("could not seek \"{}\" to offset {}: {}", path,
                                                  offset, std::strerror(errno))};
  }
  return base::Ok{};
}

base::Result<std::size_t> SegmentReader::read(std::span<std::uint8_t> buf) {
  WQ_ASSERT(f_ != nullptr, "read on a closed segment reader");
  std::size_t n = std::fread(buf.data(), 1, buf.size(), f_);
  if (n < buf.size() && std::ferror(f_)) {
    return Unexpected{ErrorCode::kIo,
                      fmt::format("could not read \"{}\": {}", path_, std::strerror(errno))};
  }
  return n;
}

}  // namespace wq::waldump
