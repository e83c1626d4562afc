// Writes wal_decoder_fuzz's seed corpus with src/wal's own encoder: small WAL
// fragments (a page or two) covering every record kind and placement edge.
// Each file: mode byte, chunk-seed byte, then WAL bytes (see wal_decoder_fuzz.cc).
// Usage: wal_fuzz_make_corpus OUT_DIR
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "wal/encoder.h"

using namespace wq::wal;

namespace {

constexpr std::uint64_t kSeg = 1 << 20;
const RelFileNode kRel{1663, 5, 16384};

Page page_with(std::uint16_t lower, std::uint16_t upper, std::uint8_t fill) {
  Page p{};
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(fill + i * 7);
  store_u16(p.data() + 12, lower);
  store_u16(p.data() + 14, upper);
  return p;
}

std::vector<std::uint8_t> filler(std::uint32_t tot_len) {
  std::vector<std::uint8_t> r(tot_len, 0x5C);
  std::fill(r.begin(), r.begin() + 24, 0);
  store_u32(r.data(), tot_len);
  r[16] = XLOG_NOOP;
  if (tot_len > 24) {
    r[24] = XLR_BLOCK_ID_DATA_LONG;
    store_u32(r.data() + 25, tot_len - 29);
  }
  return r;
}

bool write(const std::string& dir, const std::string& name, std::uint8_t mode, std::uint8_t seed,
           std::vector<std::uint8_t> wal) {
  wal.insert(wal.begin(), {mode, seed});
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(wal.data()), static_cast<std::streamsize>(wal.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: wal_fuzz_make_corpus OUT_DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  bool ok = true;
  Page old_page = page_with(300, 7600, 1);
  Page new_page = old_page;
  new_page[40] ^= 0xFF;
  new_page[8000] ^= 0xFF;
  Page hole_page = page_with(2000, 8000, 3);  // image of 2192 bytes

  {  // Every record kind on the first page of a segment.
    WalWriter w(Lsn(kSeg), 1, 42, kSeg);
    CheckPoint cp;
    cp.redo = w.next_record_lsn();
    w.append(make_checkpoint_record(cp, true));
    w.append(make_fpw_change_record(false));
    w.append(make_commit_record(700, 1234567));
    GenericBlock g[] = {{kRel, MAIN_FORKNUM, 1, &old_page, &new_page, false}};
    w.append(make_generic_record(701, g));
    w.append(make_fpi_record(kRel, MAIN_FORKNUM, 2, hole_page));
    w.append(make_checkpoint_record(cp));
    ok &= write(dir, "kinds", 0, 1, w.take_bytes());
  }
  {  // Records crossing from the last page of a segment into the next one.
    WalWriter w(Lsn(2 * kSeg - kBlockSize), 1, 42, kSeg);
    w.append_raw(filler(8000));
    w.append(make_fpi_record(kRel, MAIN_FORKNUM, 3, hole_page));
    w.append(make_commit_record(702, 1));
    ok &= write(dir, "segment_cross", 1, 2, w.take_bytes());
  }
  {  // A record header split with 8 bytes left on the page, then a switch.
    WalWriter w(Lsn(kSeg), 1, 42, kSeg);
    w.append_raw(filler(kBlockSize - 40 - 8));
    w.append(make_commit_record(703, 2));
    w.append_raw(filler(kBlockSize - 24 - 56 - 16 - 8));
    w.append_switch();
    auto b = w.take_bytes();
    b.resize(2 * kBlockSize + 512);  // the zeroed tail is long: keep a little of it
    ok &= write(dir, "split_header_switch", 0, 3, b);
  }
  {  // Origin, top-level xid, SAME_REL, compressed image flags, long main data.
    WalWriter w(Lsn(kSeg), 1, 42, kSeg);
    std::vector<std::uint8_t> data(40, 9), stored(120, 0x28), main(300, 0x11);
    RecordBuilder rb(RM_HEAP_ID, 0x80);
    rb.set_xid(900).set_origin(2).set_toplevel_xid(899).set_main_data(main);
    rb.add_block(0, kRel, MAIN_FORKNUM, 1, data, true);
    rb.add_block(1, kRel, MAIN_FORKNUM, 2)
        .add_stored_image(stored, 100, 500,
                          BKPIMAGE_APPLY | BKPIMAGE_HAS_HOLE | BKPIMAGE_COMPRESS_ZSTD);
    rb.add_block(2, kRel, FSM_FORKNUM, 3).add_stored_image(stored, 0, 0, BKPIMAGE_COMPRESS_LZ4);
    w.append(rb);
    RecordBuilder cc(RM_GENERIC_ID, XLR_CHECK_CONSISTENCY);
    cc.add_block(0, kRel, MAIN_FORKNUM, 4, data).add_image(hole_page, true, false);
    w.append(cc);
    ok &= write(dir, "blocks_origin_compressed", 0, 4, w.take_bytes());
  }
  {  // Resumed mid-page with a small record limit.
    WalWriter w(Lsn(kSeg + kLongPageHeaderSize), 1, 42, kSeg);
    w.append(make_commit_record(704, 3));
    w.append_raw(filler(5000));
    w.append(make_commit_record(705, 4));
    ok &= write(dir, "resume_limit", 8 | 2, 5, w.take_bytes());
  }
  {  // Starting on a page whose first bytes continue an earlier record.
    WalWriter w(Lsn(kSeg), 1, 42, kSeg);
    w.append_raw(filler(kBlockSize));
    w.append(make_commit_record(706, 5));
    auto b = w.take_bytes();
    ok &= write(dir, "leading_contrecord", 0, 6,
                std::vector<std::uint8_t>(b.begin() + kBlockSize, b.end()));
    // ... which, taken as a segment start, has a stale pageaddr.
  }
  if (!ok) {
    std::fprintf(stderr, "writing the corpus to %s failed\n", dir.c_str());
    return 1;
  }
  return 0;
}
