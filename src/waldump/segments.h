// The segment files walquorum-waldump reads: which files make up the WAL of
// one timeline, the segment size, and chunked reads. All of waldump's file
// I/O for WAL lives here (src/wal is pure). Never throws: errors are Results.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace wq::waldump {

struct SegmentFile {
  std::string path;
  std::string name;        // file name without directories
  std::uint32_t tli = 0;
  std::uint64_t segno = 0;
  bool partial = false;
  bool explicit_path = false;  // named on the command line (not found in a directory)
};

// The segments of one timeline, by segment number.
struct SegmentSet {
  std::uint64_t seg_size = 0;
  std::uint32_t tli = 0;
  std::map<std::uint64_t, SegmentFile> by_segno;
};

// Builds the set from command-line paths. A directory contributes its files
// with valid 24-hex segment names (never ".partial"); a file path is taken as
// named (".partial" allowed). The segment size comes from the long page header
// of the lowest-numbered segment (bytes 32..35, as pg_waldump). timeline 0
// means: the timeline of the lowest-sorting segment name. Errors are one line.
base::Result<SegmentSet> collect_segments(const std::vector<std::string>& paths,
                                          std::uint32_t timeline);

// Reads a segment file in chunks with stdio. Not mmap: a file truncated while
// mapped would kill us with SIGBUS, and mapping saved only ~5% CPU in
// tests/bench/waldump_vs_pg.sh. Not copyable; closes on destruction.
class SegmentReader {
 public:
  SegmentReader() = default;
  ~SegmentReader();
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  base::Status open(const std::string& path, std::uint64_t offset);
  // Reads up to buf.size() bytes; 0 at end of file.
  base::Result<std::size_t> read(std::span<std::uint8_t> buf);
  void close();

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

}  // namespace wq::waldump
