// libFuzzer target: a safekeeper's restart over segment files whose bytes the
// input chooses (a torn write, stale or flipped bytes, foreign files).
// It runs what Server::load_timelines does for one timeline: WalStore::open on
// the files, then the daemon's own restart policy (safekeeper/restart_scan.h:
// the scan from the segment holding the persisted commit LSN, on corruption the
// scan for the valid end and the cut of everything after it, otherwise
// cut_torn_tail); then an Acceptor on the outcome (its invariants must hold),
// reads of every byte the store now serves, and one append after the end.
//
// Input layout: byte 0 flags (bit 0: the last segment is complete, not
// .partial; bit 1: a next.prealloc exists; bit 2: the timeline had started),
// bytes 1-3 commit selector (0: no commit LSN persisted, else commit = start of
// the first segment + 8 × selector), bytes 4-6 timeline start selector (same
// scale, at most the commit LSN), then extents: [u8 segment index 0..2][u24 offset][u16 length][bytes].
// Segments are 1 MiB (segnos 1..3), sparse, in a per-process temp directory
// under /dev/shm (or $TMPDIR) so that fsyncs cost nothing.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/assert.h"
#include "core/acceptor.h"
#include "safekeeper/restart_scan.h"
#include "storage/wal_store.h"
#include "wal/format.h"

namespace {

using wq::wal::Lsn;
constexpr std::uint64_t kSeg = 1 << 20;
constexpr std::uint64_t kFirstSegno = 1;
constexpr std::uint32_t kTli = 1;

// A per-process directory, removed at exit.
struct WorkDir {
  std::string path;
  WorkDir() {
    std::string base = "/dev/shm";
    if (::access(base.c_str(), W_OK) != 0) {
      const char* t = std::getenv("TMPDIR");
      base = t && *t ? t : "/tmp";
    }
    path = base + "/wq-fuzz-segscan-" + std::to_string(::getpid());
  }
  ~WorkDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::string& work_dir() {
  static WorkDir dir;
  return dir.path;
}

std::uint32_t le(const std::uint8_t* p, int n) {
  std::uint32_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint32_t{p[i]} << (8 * i);
  return v;
}

void write_file(const std::string& path, const std::map<std::uint64_t, std::vector<std::uint8_t>>& extents) {
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  WQ_ASSERT(fd >= 0, "cannot create {}", path);
  WQ_ASSERT(::ftruncate(fd, static_cast<off_t>(kSeg)) == 0, "ftruncate {}", path);
  for (const auto& [off, bytes] : extents) {
    WQ_ASSERT(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(off)) ==
                  static_cast<ssize_t>(bytes.size()),
              "pwrite {}", path);
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wq;
  if (size < 7) return 0;
  const std::uint8_t flags = data[0];
  const std::uint32_t commit_sel = le(data + 1, 3);
  const std::uint32_t start_sel = le(data + 4, 3);
  std::map<std::uint64_t, std::map<std::uint64_t, std::vector<std::uint8_t>>> segs;
  for (std::size_t i = 7; i + 6 <= size;) {
    const std::uint64_t segno = kFirstSegno + data[i] % 3;
    const std::uint64_t off = le(data + i + 1, 3) % kSeg;
    std::size_t len = le(data + i + 4, 2);
    i += 6;
    len = std::min({len, size - i, static_cast<std::size_t>(kSeg - off)});
    segs[segno][off].assign(data + i, data + i + len);
    i += len;
  }

  const std::string dir = work_dir() + "/tl";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  WQ_ASSERT(!ec, "cannot create {}: {}", dir, ec.message());
  for (const auto& [segno, extents] : segs) {
    const bool partial = segno == segs.rbegin()->first && !(flags & 1);
    write_file(dir + "/" + wal::segment_file_name(kTli, segno, kSeg) + (partial ? ".partial" : ""),
               extents);
  }
  if (flags & 2) write_file(dir + "/next.prealloc", {});

  // The persisted control state: what ProposerElected and commits left.
  core::ControlState st;
  st.wal_seg_size = kSeg;
  st.system_id = 42;
  const Lsn base(kFirstSegno * kSeg);
  if (commit_sel != 0) st.commit_lsn = base + std::uint64_t{commit_sel} * 8;
  if (flags & 4) {
    st.timeline_start_lsn = base + std::uint64_t{start_sel} * 8;
    if (st.commit_lsn.is_valid() && st.timeline_start_lsn > st.commit_lsn) {
      st.timeline_start_lsn = st.commit_lsn;
    }
    st.term = core::Term{1};
    st.term_history = core::TermHistory({{core::Term{1}, st.timeline_start_lsn}});
  }

  storage::WalStoreOptions opts;
  opts.seg_size = kSeg;
  opts.tli = kTli;
  opts.system_id = st.system_id;
  opts.alloc_chunk_bytes = 64 * 1024;
  auto store = storage::WalStore::open(dir, opts);
  if (!store) return 0;  // e.g. a segment both complete and .partial cannot happen here

  // Server::load_timelines, for one timeline (its event lines are not wanted here).
  static const bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  const safekeeper::RestartVerdict verdict = safekeeper::restart_scan(*store, st);
  if (verdict.unrepairable) return 0;  // the daemon serves nothing from this store
  const Lsn wal_end = verdict.wal_end;
  WQ_ASSERT(verdict.corrupt == st.corrupt, "verdict corrupt {} state corrupt {}", verdict.corrupt, st.corrupt);
  if (!store->empty()) {
    WQ_ASSERT(verdict.corrupt || wal_end >= st.commit_lsn, "scan ended at {} below commit {}", wal_end,
              st.commit_lsn);
    WQ_ASSERT(store->ready(), "store not ready after the restart scan");
    WQ_ASSERT(store->write_lsn() == wal_end && store->flush_lsn() == wal_end,
              "write {} flush {} end {}", store->write_lsn(), store->flush_lsn(), wal_end);
  }
  core::Acceptor acceptor(core::NodeId{1}, st, wal_end);
  acceptor.check_invariants();

  if (!store->ready()) return 0;
  // Every byte the store now claims is readable, except in a segment missing
  // between others (a person deleted it): that reads as kNotFound.
  std::vector<std::uint8_t> buf(64 * 1024);
  for (Lsn at = store->first_lsn(); at < store->write_lsn();) {
    auto got = store->read(at, buf);
    const std::uint64_t segno = at.value() / kSeg;
    if (!got && got.error().code == base::ErrorCode::kNotFound && !segs.contains(segno) &&
        segno > segs.begin()->first && segno < segs.rbegin()->first) {
      at = Lsn((segno + 1) * kSeg);
      continue;
    }
    WQ_ASSERT(got.has_value(), "read at {} below write_lsn {}: {}", at, store->write_lsn(),
              got.error().message);
    WQ_ASSERT(*got > 0, "read at {} returned nothing below write_lsn {}", at, store->write_lsn());
    at += *got;
  }
  // And the next append lands at the end and reads back.
  if (!store->empty()) {
    const std::vector<std::uint8_t> more(100, 0xA5);
    const Lsn end = store->write_lsn();
    if (auto w = store->write(end, more); w) {
      store->sync();
      std::vector<std::uint8_t> back(more.size());
      auto got = store->read(end, back);
      WQ_ASSERT(got.has_value() && *got == more.size() && back == more,
                "an append at {} does not read back", end);
    }
  }
  return 0;
}
