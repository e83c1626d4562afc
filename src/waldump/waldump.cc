// walquorum-waldump's logic: options, the read-feed-decode loop, and the
// end-of-WAL verdict (normal end: exit 0; corrupt or truncated: exit 2).
#include "waldump/waldump.h"

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "wal/decoder.h"
#include "wal/format.h"
#include "wal/lsn.h"
#include "waldump/describe.h"
#include "waldump/segments.h"

namespace wq::waldump {

using wal::Lsn;

namespace {

constexpr const char* kFooter = R"(
PATH is a WAL segment file or a directory. A directory contributes every file
whose name is a valid 24-hex-digit segment name of the chosen timeline, sorted;
files ending in ".partial" are read only when named explicitly. The segment size
is read from the long page header of the first segment, like pg_waldump.
Segments are read and decoded in chunks (--read-chunk-kib, default 128 KiB);
the whole WAL is never loaded.

Records are shown from --start (a record LSN, or a page or segment boundary
from which the first record is found, skipping continuation data) until
--end: a record is shown when it ends at or before --end.

Output: one line per record in pg_waldump's format (the desc part is shorter);
--json prints one JSON object per line instead, with start_lsn, end_lsn,
prev_lsn ("X/Y"), rmgr (PostgreSQL's name), rmid, info, type, xid, total_len,
rec_len, fpi_len, main_data_len and blocks (id, spc, db, rel, fork, blk,
has_image, apply_image, hole_offset, hole_length, compression, image_len,
has_data, data_len, will_init); --stats prints the per-resource-manager
table of `pg_waldump --stats` instead of records.

End of WAL: the last line on stderr names the LSN where valid WAL ends and why.
Exit status:
  0  the WAL ended normally (a zeroed page, or a record length of 0 after the
     last record, or no further segment file when --end is not given) and the
     whole requested range up to --end was decoded;
  2  bad flags, unreadable files, or corrupt or truncated WAL: a bad CRC, a bad
     page or record header, a stale page address (for example a recycled
     segment after the end of WAL), a file shorter than a segment, or WAL that
     ends before --end.
)";

constexpr std::size_t kOutputFlushBytes = 64 * 1024;

enum class InputEnd { kNone, kNoMoreFiles, kShortFile, kPastEnd };

bool is_normal_end(const wal::EndOfWal& e, InputEnd input_end) {
  switch (e.reason) {
    case wal::EndReason::kZeroPage:
      return true;
    case wal::EndReason::kBadLength:
      // xl_tot_len 0 where the next record would start: zeroed space after the last record.
      return e.zero_length;
    case wal::EndReason::kEndOfInput:
      return input_end == InputEnd::kNoMoreFiles;
    default:
      return false;
  }
}

class Dumper {
 public:
  Dumper(const Options& o, std::FILE* out, std::FILE* err) : o_(o), out_(out), err_(err) {}

  int run() {
    if (o_.paths.empty()) return fail("no PATH given (expected segment files or directories)");
    if (o_.chunk_kib == 0) return fail("--read-chunk-kib must be positive");
    std::optional<Lsn> start, end;
    if (!o_.start.empty()) {
      auto r = Lsn::parse(o_.start);
      if (!r) return fail(fmt::format("--start: {}", r.error().message));
      start = *r;
    }
    if (!o_.end.empty()) {
      auto r = Lsn::parse(o_.end);
      if (!r) return fail(fmt::format("--end: {}", r.error().message));
      end = *r;
    }
    if (start && end && *end <= *start) {
      return fail(fmt::format("--end {} must be after --start {}", *end, *start));
    }
    auto set = collect_segments(o_.paths, o_.timeline);
    if (!set) return fail(set.error().message);
    set_ = std::move(*set);
    const std::uint64_t seg_size = set_.seg_size;
    if (!start) start = wal::segment_start(set_.by_segno.begin()->first, seg_size);
    const std::uint64_t first_segno = wal::segno_of(*start, seg_size);
    if (!set_.by_segno.contains(first_segno)) {
      return fail(fmt::format("segment {} holding --start {} is not among the given files",
                              wal::segment_file_name(set_.tli, first_segno, seg_size), *start));
    }
    return decode(*start, end);
  }

 private:
  // Writes the buffered record lines (before any final stderr line).
  void flush_output() {
    std::fwrite(pending_.data(), 1, pending_.size(), out_);
    pending_.clear();
  }

  int fail(const std::string& msg) {
    flush_output();
    std::fprintf(err_, "walquorum-waldump: error: %s\n", msg.c_str());
    return kExitError;
  }

  int decode(Lsn start, std::optional<Lsn> end) {
    const std::uint64_t seg_size = set_.seg_size;
    // Decode from the page holding start, as XLogFindNextRecord does: the
    // decoder skips the header and any continuation, and records before start
    // are decoded (and checked) but not shown.
    const Lsn feed_from = wal::page_start(start);
    wal::DecoderOptions dopt;
    dopt.seg_size = seg_size;
    dopt.start_is_page_aligned = true;
    // PG15 itself has no record size limit and pg_waldump none either; the
    // decoder's default is PG16's cap, and its buffer grows only with bytes fed.
    dopt.file_tli = set_.tli;
    wal::StreamDecoder dec(feed_from, dopt);

    std::vector<std::uint8_t> buf(o_.chunk_kib * 1024);
    std::uint64_t segno = wal::segno_of(feed_from, seg_size);
    std::uint64_t seg_pos = wal::segment_offset(feed_from, seg_size);  // bytes of this file fed
    Lsn fed_until = feed_from;
    SegmentReader reader;
    if (auto s = reader.open(set_.by_segno.at(segno).path, seg_pos); !s) {
      return fail(s.error().message);
    }
    InputEnd input_end = InputEnd::kNone;
    std::string input_end_detail;
    Stats stats;
    std::optional<Lsn> first_shown;
    Lsn last_end = start;
    std::uint64_t shown = 0;

    for (;;) {
      wal::DecodeStep step = dec.next();
      if (auto* rec = std::get_if<wal::DecodedRecord>(&step)) {
        if (rec->start_lsn < start) continue;
        if (end && rec->end_lsn > *end) return finish_covered(stats, first_shown, last_end, shown, *end);
        if (!first_shown) {
          first_shown = rec->start_lsn;
          if (rec->start_lsn != start) {
            std::fprintf(err_, "walquorum-waldump: first record is after %s, at %s, skipping over %llu bytes\n",
                         start.to_string().c_str(), rec->start_lsn.to_string().c_str(),
                         static_cast<unsigned long long>(rec->start_lsn - start));
          }
        }
        last_end = rec->end_lsn;
        ++shown;
        if (o_.stats) {
          stats.add(*rec);
        } else {
          // Lines collect in one buffer, written in large pieces.
          if (o_.json) {
            append_json(*rec, pending_);
          } else {
            append_text(*rec, pending_);
          }
          pending_.push_back('\n');
          if (pending_.size() >= kOutputFlushBytes) flush_output();
        }
        if (end && rec->end_lsn >= *end) {
          return finish_covered(stats, first_shown, last_end, shown, *end);
        }
        continue;
      }
      if (std::holds_alternative<wal::NeedMore>(step)) {
        if (input_end != InputEnd::kNone) {
          // Defensive: the decoder must answer EndOfWal after finish().
          dec.finish();
          step = dec.next();
          if (!std::holds_alternative<wal::EndOfWal>(step)) {
            return fail(fmt::format("decoder asked for more input after the end at {}", fed_until));
          }
        } else {
          auto n = reader.read(buf);
          if (!n) return fail(n.error().message);
          if (*n > 0) {
            std::size_t take = *n;
            if (seg_pos + take > seg_size) take = static_cast<std::size_t>(seg_size - seg_pos);
            dec.feed(std::span<const std::uint8_t>(buf.data(), take));
            seg_pos += take;
            fed_until = fed_until + take;
            if (seg_pos < seg_size) continue;
          }
          // This file is done: full segment, or short (truncated).
          const SegmentFile& cur = set_.by_segno.at(segno);
          if (seg_pos < seg_size) {
            input_end = InputEnd::kShortFile;
            input_end_detail = fmt::format("file \"{}\" ends after {} bytes, a segment has {}",
                                           cur.path, seg_pos, seg_size);
          } else if (end && wal::segment_start(segno + 1, seg_size) >= *end &&
                     !set_.by_segno.contains(segno + 1)) {
            input_end = InputEnd::kPastEnd;
            input_end_detail = "all bytes up to --end were read";
          } else if (!set_.by_segno.contains(segno + 1)) {
            input_end = InputEnd::kNoMoreFiles;
            input_end_detail = fmt::format("no segment file {} after {}",
                                           wal::segment_file_name(set_.tli, segno + 1, seg_size),
                                           cur.name);
          } else {
            ++segno;
            seg_pos = 0;
            if (auto s = reader.open(set_.by_segno.at(segno).path, 0); !s) {
              return fail(s.error().message);
            }
            continue;
          }
          reader.close();
          dec.finish();
          continue;
        }
      }
      const auto& e = std::get<wal::EndOfWal>(step);
      if (end) {
        // The problem lies beyond the requested range, or every byte up to
        // --end was present and decoded (the last record crosses --end).
        bool covered = e.lsn >= *end ||
                       (e.reason == wal::EndReason::kEndOfInput && fed_until >= *end);
        if (covered) return finish_covered(stats, first_shown, last_end, shown, *end);
      }
      print_stats(stats, first_shown, last_end);
      std::string reason = e.message;
      if (e.reason == wal::EndReason::kEndOfInput && !input_end_detail.empty()) {
        reason += fmt::format(" ({})", input_end_detail);
      }
      if (is_normal_end(e, input_end) && !end) {
        std::fprintf(err_, "walquorum-waldump: end of WAL at %s (%s): %s; %llu records shown\n",
                     dec.end_of_valid_wal().to_string().c_str(), wal::end_reason_name(e.reason),
                     reason.c_str(), static_cast<unsigned long long>(shown));
        return kExitOk;
      }
      if (end && is_normal_end(e, input_end)) {
        return fail(fmt::format("WAL ends at {} before --end {} ({}: {}); {} records shown",
                                dec.end_of_valid_wal(), *end, wal::end_reason_name(e.reason),
                                reason, shown));
      }
      return fail(fmt::format("invalid WAL at {} ({}): {}; valid WAL ends at {}; {} records shown",
                              e.lsn, wal::end_reason_name(e.reason), reason,
                              dec.end_of_valid_wal(), shown));
    }
  }

  int finish_covered(const Stats& stats, std::optional<Lsn> first, Lsn last_end,
                     std::uint64_t shown, Lsn end) {
    print_stats(stats, first, last_end);
    std::fprintf(err_, "walquorum-waldump: reached --end %s: last record shown ends at %s; %llu records shown\n",
                 end.to_string().c_str(), last_end.to_string().c_str(),
                 static_cast<unsigned long long>(shown));
    return kExitOk;
  }

  void print_stats(const Stats& stats, std::optional<Lsn> first, Lsn last_end) {
    flush_output();
    if (!o_.stats) return;
    std::string table = stats.format(first.value_or(last_end), last_end);
    std::fwrite(table.data(), 1, table.size(), out_);
  }

  const Options& o_;
  std::FILE* out_;
  std::FILE* err_;
  SegmentSet set_;
  fmt::memory_buffer pending_;  // record lines not yet written
};

}  // namespace

void add_options(CLI::App& app, Options& o) {
  app.add_option("--start,-s", o.start, "first LSN to show (X/Y); default: start of the first segment")
      ->type_name("LSN");
  app.add_option("--end,-e", o.end, "show records that end at or before this LSN (X/Y)")
      ->type_name("LSN");
  auto* stats = app.add_flag("--stats", o.stats,
                             "print per-resource-manager statistics (records, %, record bytes, "
                             "FPI bytes, combined) instead of records");
  app.add_flag("--json", o.json, "print one JSON object per record per line")->excludes(stats);
  app.add_option("--timeline,-t", o.timeline,
                 "timeline whose segments to read; default: that of the lowest segment name")
      ->type_name("N")
      ->check(CLI::Range(1u, 0xFFFFFFFFu));
  app.add_option("--read-chunk-kib", o.chunk_kib,
                 "KiB read from a segment and fed to the decoder at a time")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(8, 65536));
  app.add_option("PATH", o.paths, "segment files and/or directories of segments")
      ->required()
      ->type_name("PATH");
  app.footer(kFooter);
}

int run(const Options& options, std::FILE* out, std::FILE* err) {
  Dumper d(options, out, err);
  return d.run();
}

}  // namespace wq::waldump
