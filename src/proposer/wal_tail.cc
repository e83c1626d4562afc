// find_last_record_start and window_begin (see wal_tail.h).
#include "proposer/wal_tail.h"

#include <fmt/format.h>

#include <variant>

#include "wal/decoder.h"

namespace wq::proposer {

base::Result<std::optional<Lsn>> find_last_record_start(std::span<const std::uint8_t> wal,
                                                        Lsn begin, Lsn end,
                                                        std::uint64_t seg_size) {
  if (end < begin || end - begin != wal.size()) {
    return base::Unexpected{base::ErrorCode::kInvalidArgument,
                            fmt::format("window [{}, {}) but {} bytes given", begin, end,
                                        wal.size())};
  }
  wal::DecoderOptions o;
  o.seg_size = seg_size;
  o.start_is_page_aligned = wal::is_page_aligned(begin);
  wal::StreamDecoder dec(begin, o);
  dec.feed(wal);
  dec.finish();
  std::optional<Lsn> last_start;
  Lsn last_end;
  // Bounded: every step consumes input or ends; the window holds at most
  // wal.size() / 24 records.
  for (std::size_t steps = 0; steps <= wal.size() / wal::kRecordHeaderSize + 2; ++steps) {
    wal::DecodeStep step = dec.next();
    if (auto* rec = std::get_if<wal::DecodedRecord>(&step)) {
      last_start = rec->start_lsn;
      last_end = rec->end_lsn;
      continue;
    }
    if (std::holds_alternative<wal::NeedMore>(step)) break;  // not after finish(); defensive
    const auto& eow = std::get<wal::EndOfWal>(step);
    bool clean = eow.reason == wal::EndReason::kEndOfInput && eow.lsn >= end;
    if (!last_start) {
      // Nothing began in the window: fine only if the input simply ran out
      // inside a continuation that started before `begin`.
      if (eow.reason == wal::EndReason::kEndOfInput && o.start_is_page_aligned) return std::optional<Lsn>{};
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("no record in [{}, {}): {}", begin, end, eow.message)};
    }
    if (!clean || last_end != end) {
      return base::Unexpected{
          base::ErrorCode::kCorrupt,
          fmt::format("WAL before term start {} does not end on a record there: last record "
                      "[{}, {}), then {} at {}: {}",
                      end, *last_start, last_end, wal::end_reason_name(eow.reason), eow.lsn,
                      eow.message)};
    }
    return last_start;
  }
  return base::Unexpected{base::ErrorCode::kCorrupt,
                          fmt::format("decoding [{}, {}) did not reach its end", begin, end)};
}

Lsn window_begin(Lsn end, std::uint64_t bytes, Lsn floor) {
  if (end < floor || end - floor <= bytes) return floor;
  Lsn b = wal::page_start(end - bytes);
  return b < floor ? floor : b;
}

}  // namespace wq::proposer
