// Helpers for the storage tests: a temporary directory removed at the end, and
// real PG15 WAL made with wal::WalWriter.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "wal/encoder.h"
#include "wal/format.h"
#include "wal/lsn.h"

namespace wq::storage::testing {

// mkdtemp under $TMPDIR (or /tmp); removed recursively on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = ::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/wq-storage-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    char* made = ::mkdtemp(buf.data());
    path_ = made ? made : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct GeneratedWal {
  wal::Lsn start;
  wal::Lsn end;                    // end of the last record
  std::vector<std::uint8_t> bytes;  // [start, end)
  std::vector<wal::Lsn> record_starts;
  std::vector<wal::Lsn> record_ends;
};

// Real WAL from `start` (a page boundary, or a record boundary after a page
// header) until at least `min_bytes` are produced: commit records mixed with
// full-page images so records span pages and segments.
inline GeneratedWal make_wal(wal::Lsn start, std::uint64_t seg_size, std::uint64_t min_bytes,
                             std::uint64_t sysid = 7300000000000000001ull) {
  wal::WalWriter w(start, 1, sysid, seg_size);
  GeneratedWal g;
  g.start = start;
  std::uint32_t i = 0;
  while (w.end_lsn() - start < min_bytes) {
    wal::WalWriter::Placed placed;
    if (i % 3 == 2) {
      wal::Page page{};
      for (std::size_t k = 0; k < page.size(); ++k) page[k] = static_cast<std::uint8_t>(k * 7 + i);
      placed = w.append(wal::make_fpi_record(wal::RelFileNode{1663, 5, 16384 + i % 4},
                                             wal::MAIN_FORKNUM, i, page, /*standard=*/false));
    } else {
      placed = w.append(wal::make_commit_record(1000 + i, 780000000000000 + i));
    }
    g.record_starts.push_back(placed.start);
    g.record_ends.push_back(placed.end);
    ++i;
  }
  g.end = w.end_lsn();
  g.bytes = w.take_bytes();
  return g;
}

inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::vector<std::uint8_t> out;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return out;
  std::uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

inline bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

inline std::uint64_t file_size(const std::string& path) {
  std::error_code ec;
  auto s = std::filesystem::file_size(path, ec);
  return ec ? 0 : s;
}

}  // namespace wq::storage::testing
