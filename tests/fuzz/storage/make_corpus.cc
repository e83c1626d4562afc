// Writes the seed corpora of the storage fuzz targets. corpus_control/: control
// records made by encode_control (mode byte first, see control_codec_fuzz.cc).
// corpus_segment/: segment files made by a real WalStore from real WAL
// (wal::WalWriter), cut into extents of their non-zero bytes in
// wal_store_scan_fuzz's layout: a WAL starting at a segment start, one starting
// mid-segment (synthesized headers), one crossing into the next segment, a
// torn tail, a flipped byte below the commit LSN, a lost segment, a complete
// segment with next.prealloc. Deterministic.
// Usage: storage_fuzz_make_corpus <corpus_control dir> <corpus_segment dir>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/acceptor.h"
#include "storage/control_codec.h"
#include "storage/wal_store.h"
#include "wal/encoder.h"
#include "wal/format.h"

namespace {

using wq::wal::Lsn;
constexpr std::uint64_t kSeg = 1 << 20;

bool write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::vector<std::uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(std::vector<std::uint8_t>& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

struct Seed {
  std::vector<std::uint8_t> bytes;
  Seed(std::uint8_t flags, Lsn commit, Lsn start) {
    bytes.push_back(flags);
    put(bytes, commit.is_valid() ? (commit.value() - kSeg) / 8 : 0, 3);
    put(bytes, start.is_valid() ? (start.value() - kSeg) / 8 : 0, 3);
  }
  // The non-zero runs of a segment's bytes (gaps under 64 bytes merged) as extents.
  void add_segment(std::uint64_t index, const std::vector<std::uint8_t>& seg) {
    std::size_t i = 0;
    while (i < seg.size()) {
      if (seg[i] == 0) {
        ++i;
        continue;
      }
      std::size_t end = i, zeros = 0;
      for (std::size_t j = i; j < seg.size() && j - i < 65535 && zeros < 64; ++j) {
        zeros = seg[j] == 0 ? zeros + 1 : 0;
        if (seg[j] != 0) end = j + 1;
      }
      bytes.push_back(static_cast<std::uint8_t>(index));
      put(bytes, i, 3);
      put(bytes, end - i, 2);
      bytes.insert(bytes.end(), seg.begin() + static_cast<std::ptrdiff_t>(i),
                   seg.begin() + static_cast<std::ptrdiff_t>(end));
      i = end;
    }
  }
};

struct Written {
  std::vector<std::vector<std::uint8_t>> segments;  // segnos 1, 2, ...
  std::vector<Lsn> record_ends;
  Lsn end;
};

// Real WAL of `bytes` bytes from `start`, written through a WalStore and read back.
Written store_wal(const std::string& tmp, Lsn start, std::uint64_t bytes) {
  std::filesystem::remove_all(tmp);
  wq::storage::WalStoreOptions o;
  o.seg_size = kSeg;
  o.system_id = 42;
  o.alloc_chunk_bytes = 64 * 1024;
  o.preallocate_ahead = false;
  auto store = wq::storage::WalStore::open(tmp, o);
  wq::wal::WalWriter w(start, 1, 42, kSeg);
  Written out;
  for (std::uint32_t i = 0; w.end_lsn() - start < bytes; ++i) {
    wq::wal::WalWriter::Placed placed;
    if (i % 3 == 2) {
      wq::wal::Page page{};
      for (std::size_t k = 0; k < page.size(); ++k) page[k] = static_cast<std::uint8_t>(k * 7 + i);
      placed = w.append(wq::wal::make_fpi_record(wq::wal::RelFileNode{1663, 5, 16384}, wq::wal::MAIN_FORKNUM,
                                                 i, page, /*standard=*/false));
    } else {
      placed = w.append(wq::wal::make_commit_record(1000 + i, 780000000000000 + i));
    }
    out.record_ends.push_back(placed.end);
  }
  out.end = w.end_lsn();
  auto b = w.take_bytes();
  (void)store->write(start, b);
  store->sync();
  for (std::uint64_t segno = 1; segno <= 3; ++segno) {
    for (const char* suffix : {"", ".partial"}) {
      auto path = tmp + "/" + wq::wal::segment_file_name(1, segno, kSeg) + suffix;
      if (std::filesystem::exists(path)) out.segments.push_back(read_all(path));
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: storage_fuzz_make_corpus CORPUS_CONTROL CORPUS_SEGMENT\n");
    return 2;
  }
  const std::string control = argv[1], segment = argv[2];
  bool ok = true;

  {  // Control records.
    wq::core::ControlState s;
    auto plain = wq::storage::encode_control(s);
    plain.insert(plain.begin(), 0);
    ok &= write(control + "/initial", plain);
    s.timeline.tenant.bytes[0] = 0xAB;
    s.timeline.timeline.bytes[15] = 0xCD;
    s.system_id = 7300000000000000001ull;
    s.term = wq::core::Term{5};
    s.term_history = wq::core::TermHistory({{wq::core::Term{1}, Lsn(0x1000028)},
                                            {wq::core::Term{3}, Lsn(0x1002000)},
                                            {wq::core::Term{5}, Lsn(0x1002000)}});
    s.timeline_start_lsn = Lsn(0x1000028);
    s.commit_lsn = Lsn(0x1003000);
    s.truncate_lsn = Lsn(0x1001000);
    auto elected = wq::storage::encode_control(s);
    elected.insert(elected.begin(), 0);
    ok &= write(control + "/elected", elected);
    elected[0] = 1;  // the harness recomputes length and CRC
    ok &= write(control + "/elected-fixcrc", elected);
    s.corrupt = true;
    auto corrupt = wq::storage::encode_control(s);
    corrupt.insert(corrupt.begin(), 1);
    ok &= write(control + "/corrupt", corrupt);
  }

  const char* t = std::getenv("TMPDIR");
  const std::string tmp = std::string(t && *t ? t : "/tmp") + "/wq-segment-corpus-" + std::to_string(::getpid());
  {  // WAL from a segment start, commit LSN inside it.
    auto w = store_wal(tmp, Lsn(kSeg), 30000);
    Seed s(4, w.record_ends[w.record_ends.size() / 2], Lsn(kSeg + 40));
    s.add_segment(0, w.segments.at(0));
    ok &= write(segment + "/segment_start", s.bytes);
    // A torn tail: the last 100 bytes never reached the disk.
    auto torn = w.segments.at(0);
    std::fill(torn.begin() + static_cast<std::ptrdiff_t>(w.end.value() - kSeg - 100),
              torn.begin() + static_cast<std::ptrdiff_t>(w.end.value() - kSeg), 0);
    Seed st(4, w.record_ends[w.record_ends.size() / 2], Lsn(kSeg + 40));
    st.add_segment(0, torn);
    ok &= write(segment + "/torn_tail", st.bytes);
    // A flipped byte below the commit LSN.
    auto flipped = w.segments.at(0);
    flipped[9000] ^= 0x10;
    Seed sf(4, w.record_ends.back(), Lsn(kSeg + 40));
    sf.add_segment(0, flipped);
    ok &= write(segment + "/flipped_below_commit", sf.bytes);
    // No segment at all, but a commit LSN persisted.
    ok &= write(segment + "/lost_segments", Seed(4, w.record_ends.back(), Lsn(kSeg + 40)).bytes);
    // The same segment complete (renamed), a next.prealloc, no commit LSN yet.
    Seed sc(1 | 2 | 4, Lsn(), Lsn(kSeg + 40));
    sc.add_segment(0, w.segments.at(0));
    ok &= write(segment + "/complete_prealloc", sc.bytes);
  }
  {  // WAL starting mid-segment: the store synthesizes the headers before it.
    const Lsn start(kSeg + 2 * wq::wal::kBlockSize + wq::wal::kShortPageHeaderSize);
    auto w = store_wal(tmp, start, 20000);
    Seed s(4, w.record_ends.front(), start);
    s.add_segment(0, w.segments.at(0));
    ok &= write(segment + "/mid_segment_start", s.bytes);
  }
  {  // Elected mid-segment, no record written yet: only the synthesized headers.
    const Lsn start(kSeg + 5 * wq::wal::kBlockSize + 7 * 8);
    std::filesystem::remove_all(tmp);
    wq::storage::WalStoreOptions o;
    o.seg_size = kSeg;
    o.system_id = 42;
    o.preallocate_ahead = false;
    auto store = wq::storage::WalStore::open(tmp, o);
    (void)store->truncate(start);
    Seed s(4, Lsn(), start);
    s.add_segment(0, read_all(tmp + "/" + wq::wal::segment_file_name(1, 1, kSeg) + ".partial"));
    ok &= write(segment + "/elected_no_wal", s.bytes);
  }
  {  // WAL crossing into the next segment.
    const Lsn start(2 * kSeg - 3 * wq::wal::kBlockSize + wq::wal::kShortPageHeaderSize);
    auto w = store_wal(tmp, start, 40000);
    Seed s(4, w.record_ends.front(), start);
    for (std::size_t i = 0; i < w.segments.size(); ++i) s.add_segment(i, w.segments[i]);
    ok &= write(segment + "/segment_cross", s.bytes);
  }
  std::filesystem::remove_all(tmp);
  if (!ok) {
    std::fprintf(stderr, "writing the corpora failed\n");
    return 1;
  }
  return 0;
}
