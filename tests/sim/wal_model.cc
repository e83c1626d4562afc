// WAL for the simulator, made and read by src/wal only: WalWriter lays records
// built by RecordBuilder helpers into pages (page headers, continuations,
// xl_prev, CRC), StreamDecoder finds where valid WAL ends.
#include "wal_model.h"

#include <cstring>

#include "wal/decoder.h"
#include "wal/encoder.h"
#include "wal/page.h"

namespace wq::sim {
namespace {

// A standard heap-like page: header with pd_lower/pd_upper, random tuples.
void make_page(Prng& prng, wal::Page& page, std::uint16_t lower, std::uint16_t upper) {
  std::memset(page.data(), 0, page.size());
  auto put16 = [&](std::size_t off, std::uint16_t v) { std::memcpy(page.data() + off, &v, 2); };
  put16(12, lower);
  put16(14, upper);
  put16(16, static_cast<std::uint16_t>(wal::kBlockSize));
  put16(18, static_cast<std::uint16_t>(wal::kBlockSize | 4));
  for (std::size_t i = 24; i < lower; ++i) page[i] = static_cast<std::uint8_t>(prng.next());
  for (std::size_t i = upper; i < wal::kBlockSize; i += 8) {
    std::uint64_t v = prng.next();
    std::memcpy(page.data() + i, &v, std::min<std::size_t>(8, wal::kBlockSize - i));
  }
}

}  // namespace

Lsn timeline_start_for(const WalParams& params, std::uint64_t segno) {
  return Lsn(segno * params.seg_size + wal::kLongPageHeaderSize);
}

WalGen::WalGen(const WalParams& params, Lsn begin, Lsn prev_start)
    : params_(params), end_(begin), prev_start_(prev_start) {}

std::vector<std::uint8_t> WalGen::batch(Prng& prng, int records,
                                        std::vector<GeneratedRecord>& out) {
  wal::WalWriter w(end_, params_.tli, params_.system_id, params_.seg_size, prev_start_);
  wal::Page new_page;
  for (int r = 0; r < records; ++r) {
    wal::RelFileNode rel{wal::kDefaultTablespace, 5, static_cast<std::uint32_t>(16384 + prng.below(4))};
    std::uint32_t blk = static_cast<std::uint32_t>(prng.below(1000));
    std::uint64_t kind = prng.below(10);
    wal::WalWriter::Placed placed;
    if (kind < 2) {
      // A commit record: small, ends a transaction.
      placed = w.append(wal::make_commit_record(xid_++, static_cast<std::int64_t>(prng.below(1u << 30))));
    } else if (kind < 3) {
      // A full-page image: ~4–8 KiB, crosses page boundaries.
      auto lower = static_cast<std::uint16_t>(prng.range(40, 3000));
      auto upper = static_cast<std::uint16_t>(prng.range(lower + 8, 8000));
      make_page(prng, new_page, lower, upper);
      placed = w.append(wal::make_fpi_record(rel, wal::MAIN_FORKNUM, blk, new_page));
    } else {
      // Generic WAL: page deltas of 1–4 blocks, from a few bytes to a few KiB.
      int nblocks = static_cast<int>(prng.range(1, 4));
      std::vector<wal::Page> olds(static_cast<std::size_t>(nblocks));
      std::vector<wal::Page> news(static_cast<std::size_t>(nblocks));
      std::vector<wal::GenericBlock> blocks;
      for (int b = 0; b < nblocks; ++b) {
        auto& o = olds[static_cast<std::size_t>(b)];
        auto& n = news[static_cast<std::size_t>(b)];
        make_page(prng, o, 200, 6000);
        n = o;
        std::uint64_t changes = prng.chance(0.2) ? prng.range(50, 1500) : prng.range(1, 20);
        for (std::uint64_t c = 0; c < changes; ++c) {
          std::size_t off = prng.chance(0.5) ? 24 + prng.below(176) : 6000 + prng.below(2192);
          n[off] = static_cast<std::uint8_t>(prng.next());
        }
        wal::GenericBlock gb;
        gb.rel = rel;
        gb.blk = blk + static_cast<std::uint32_t>(b);
        gb.old_page = &o;
        gb.new_page = &n;
        blocks.push_back(gb);
      }
      placed = w.append(wal::make_generic_record(xid_, blocks));
    }
    out.push_back({placed.start, placed.end});
  }
  prev_start_ = w.prev_record();
  end_ = w.end_lsn();
  return w.take_bytes();
}

std::vector<std::uint8_t> page_prefix(const WalParams& params, Lsn at) {
  Lsn page = wal::page_start(at);
  std::vector<std::uint8_t> out(at - page, 0);
  if (out.empty()) return out;
  wal::PageHeader h;
  h.tli = params.tli;
  h.pageaddr = page;
  h.is_long = wal::is_segment_aligned(page, params.seg_size);
  h.info = h.is_long ? wal::XLP_LONG_HEADER : 0;
  h.sysid = params.system_id;
  h.seg_size = static_cast<std::uint32_t>(params.seg_size);
  WQ_ASSERT(out.size() >= h.size(), "page_prefix: {} is inside the page header", at);
  wal::encode_page_header(h, out.data());
  return out;
}

Lsn scan_records(const WalParams& params, std::span<const std::uint8_t> bytes, Lsn base, Lsn from,
                 Lsn stop_at, std::vector<Lsn>* ends) {
  Lsn disk_end = base + bytes.size();
  Lsn feed_end = std::min(disk_end, stop_at);
  if (from >= feed_end) return from;
  wal::DecoderOptions opt;
  opt.seg_size = params.seg_size;
  opt.max_record_bytes = 1u << 20;
  opt.expected_sysid = params.system_id;
  wal::StreamDecoder dec(from, opt);
  dec.feed(bytes.subspan(from - base, feed_end - from));
  dec.finish();
  Lsn end = from;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto step = dec.next();
    auto* rec = std::get_if<wal::DecodedRecord>(&step);
    if (!rec) break;
    if (rec->end_lsn > stop_at) break;
    end = rec->end_lsn;
    if (ends) ends->push_back(end);
  }
  return end;
}

}  // namespace wq::sim
