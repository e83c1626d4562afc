// Helpers shared by the src/wal unit tests: a fixed-seed PRNG (tests use no
// <random>), random chunked feeding of a StreamDecoder, and filler records of
// an exact length so tests can place records at chosen page offsets.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "wal/decoder.h"
#include "wal/encoder.h"
#include "wal/format.h"
#include "wal/record.h"

namespace wq::wal::test {

// splitmix64: tiny, deterministic, good enough for test data and chunk sizes.
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform-ish in [lo, hi].
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
  std::vector<std::uint8_t> bytes(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(next());
    return v;
  }

 private:
  std::uint64_t s_;
};

struct DecodeResult {
  std::vector<DecodedRecord> records;
  std::optional<EndOfWal> end;
  Lsn valid_end;
};

// Feeds bytes in chunks (random sizes in [1, max_chunk] when rng is given,
// else all at once), draining next() after each feed; calls finish() at the end.
inline DecodeResult decode_all(Lsn start, std::span<const std::uint8_t> bytes,
                               DecoderOptions opt = {}, Prng* rng = nullptr,
                               std::size_t max_chunk = 20000, bool finish = true) {
  StreamDecoder d(start, opt);
  DecodeResult out;
  auto drain = [&] {
    for (int guard = 0; guard < 10000000; ++guard) {
      DecodeStep s = d.next();
      if (auto* r = std::get_if<DecodedRecord>(&s)) {
        r->keep();  // its bytes outlive the next feed()
        out.records.push_back(std::move(*r));
        continue;
      }
      if (auto* e = std::get_if<EndOfWal>(&s)) out.end = *e;
      return;
    }
  };
  std::size_t off = 0;
  while (off < bytes.size() && !out.end) {
    std::size_t n = bytes.size() - off;
    if (rng) n = std::min<std::size_t>(n, rng->range(1, max_chunk));
    d.feed(bytes.subspan(off, n));
    off += n;
    drain();
  }
  if (finish && !out.end) {
    d.finish();
    drain();
  }
  out.valid_end = d.end_of_valid_wal();
  return out;
}

// A complete record of exactly tot_len bytes (24, or >= 29 using the long
// main-data header, which the reader accepts for any length), rmid/info given.
inline std::vector<std::uint8_t> filler_record(std::uint32_t tot_len, std::uint8_t rmid = RM_XLOG_ID,
                                               std::uint8_t info = XLOG_NOOP,
                                               std::uint8_t fill = 0xAB) {
  WQ_ASSERT(tot_len == 24 || tot_len >= 29, "filler of {} bytes", tot_len);
  std::vector<std::uint8_t> r(tot_len, fill);
  std::fill(r.begin(), r.begin() + 24, 0);
  store_u32(r.data(), tot_len);
  r[16] = info;
  r[17] = rmid;
  if (tot_len > 24) {
    r[24] = XLR_BLOCK_ID_DATA_LONG;
    store_u32(r.data() + 25, tot_len - 29);
  }
  return r;
}

// Appends fillers until the next record would start exactly `before_page_end`
// bytes before the end of its page (a multiple of 8, 8..8160).
inline void place_next_record(WalWriter& w, std::uint32_t before_page_end) {
  for (int i = 0; i < 4; ++i) {
    Lsn next = w.next_record_lsn();
    std::uint32_t off = page_offset(next);
    std::uint32_t target = kBlockSize - before_page_end;
    if (off == target) return;
    if (off < target && target - off >= 32) {
      w.append_raw(filler_record(target - off));
      return;
    }
    // Too close or past it: finish this page with a record that ends exactly at its end.
    std::uint32_t to_end = kBlockSize - off;
    if (to_end >= 32) {
      w.append_raw(filler_record(to_end));
    } else {
      w.append_raw(filler_record(to_end + 64));  // crosses into the next page
    }
  }
  WQ_ASSERT(page_offset(w.next_record_lsn()) == kBlockSize - before_page_end,
            "could not place record at {}", before_page_end);
}

inline Page make_page(Prng& rng, std::uint16_t lower, std::uint16_t upper) {
  Page p{};
  auto v = rng.bytes(kBlockSize);
  std::copy(v.begin(), v.end(), p.begin());
  store_u16(p.data() + 12, lower);
  store_u16(p.data() + 14, upper);
  return p;
}

}  // namespace wq::wal::test
