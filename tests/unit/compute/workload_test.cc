// The workload engine against the WAL library: every record decodes, replaying
// generic deltas and images (wal::apply_generic_delta / restore_image) on the
// previous page gives the compute's page byte for byte, the FPW rule puts an
// image exactly on a page's first change after the redo point, XLOG_FPW_CHANGE
// switches it, and the truth journal rebuilds every page at every LSN.
#include <doctest/doctest.h>

#include <map>

#include "compute/workload.h"
#include "wal/decoder.h"

namespace wq::compute {
namespace {

constexpr wal::Lsn kStart(16 * 1024 * 1024);

WorkloadConfig small_config(bool fpw) {
  WorkloadConfig c;
  c.relations = 3;
  c.blocks = 6;
  c.hot_blocks_pct = 50;
  c.hot_access_pct = 50;
  c.system_id = 42;
  c.fpw = fpw;
  c.journal = true;
  return c;
}

struct Replay {
  std::map<std::pair<std::uint32_t, std::uint32_t>, Page> pages;  // (relfilenode, blk)
  std::vector<JournalEntry> journal;
  wal::Lsn redo;
  bool fpw = true;
  int generic = 0, images = 0, fpw_images = 0, deltas = 0, commits = 0, checkpoints = 0, fpw_changes = 0;
  int journal_checks = 0;
};

// Decodes all of `wal` and replays it, checking the FPW rule on every block
// and the truth journal after every record.
void replay(const std::vector<std::uint8_t>& wal_bytes, wal::Lsn start, Replay& r, bool start_fpw) {
  r.fpw = start_fpw;
  wal::DecoderOptions opts;
  opts.start_is_page_aligned = wal::is_page_aligned(start);
  wal::StreamDecoder dec(start, opts);
  dec.feed(wal_bytes);
  dec.finish();
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto step = dec.next();
    if (std::holds_alternative<wal::EndOfWal>(step)) {
      auto& e = std::get<wal::EndOfWal>(step);
      CHECK(e.reason == wal::EndReason::kEndOfInput);
      CHECK(dec.end_of_valid_wal() == start + wal_bytes.size());
      return;
    }
    REQUIRE(std::holds_alternative<wal::DecodedRecord>(step));
    auto& rec = std::get<wal::DecodedRecord>(step);
    // decode_record on the reassembled bytes agrees with the stream decoder.
    auto again = wal::decode_record(rec.bytes(), rec.start_lsn);
    REQUIRE(again);
    CHECK(again->blocks.size() == rec.blocks.size());
    if (rec.rmid == wal::RM_XLOG_ID && rec.rmgr_info() == wal::XLOG_CHECKPOINT_ONLINE) {
      auto cp = wal::decode_checkpoint(rec.main_data());
      REQUIRE(cp);
      r.redo = cp->redo;
      CHECK(cp->redo == rec.start_lsn);  // nothing between the redo point and the record
      ++r.checkpoints;
      continue;
    }
    if (rec.rmid == wal::RM_XLOG_ID && rec.rmgr_info() == wal::XLOG_FPW_CHANGE) {
      REQUIRE(rec.main_data().size() == 1);
      r.fpw = rec.main_data()[0] != 0;
      ++r.fpw_changes;
      continue;
    }
    if (rec.rmid == wal::RM_XACT_ID) {
      ++r.commits;
      continue;
    }
    REQUIRE(rec.rmid == wal::RM_GENERIC_ID);
    CHECK(rec.main_data_len == 0);
    CHECK(rec.blocks.size() >= 1);
    CHECK(rec.blocks.size() <= 4);
    ++r.generic;
    for (std::size_t i = 0; i < rec.blocks.size(); ++i) {
      const wal::BlockRef& b = rec.blocks[i];
      auto key = std::make_pair(b.rel, b.blk);
      auto it = r.pages.find(key);
      bool exists = it != r.pages.end();
      Page& page = r.pages[key];
      // An image exactly when the page is new or (fpw on) last changed at or before the redo point.
      bool expect_image = !exists || (r.fpw && page_lsn(page) <= r.redo);
      CHECK_MESSAGE(b.has_image == expect_image, "rel ", b.rel, " blk ", b.blk, " at ", rec.start_lsn.to_string());
      if (b.has_image) {
        CHECK(b.apply_image);
        CHECK_FALSE(b.has_data);  // no REGBUF_KEEP_DATA: the delta is dropped
        REQUIRE(wal::restore_image(b, rec.bytes(), page));
        ++r.images;
        if (exists) ++r.fpw_images;
      } else {
        REQUIRE(exists);
        REQUIRE(wal::apply_generic_delta(page, rec.block_data(i)));
        ++r.deltas;
      }
      set_page_lsn(page, rec.end_lsn);  // redo stamps the record's end
      CHECK(page_header_valid(page));
      // The truth journal gives the same page at this LSN.
      auto truth = reconstruct_page(r.journal, b.rel, b.blk, rec.end_lsn);
      REQUIRE(truth);
      CHECK(*truth == page);
      ++r.journal_checks;
    }
  }
  FAIL("replay did not end");
}

std::vector<std::uint8_t> drain(Workload& w, std::vector<std::uint8_t>& all, std::vector<JournalEntry>& journal) {
  auto b = w.take_bytes();
  all.insert(all.end(), b.begin(), b.end());
  auto j = w.take_journal();
  journal.insert(journal.end(), j.begin(), j.end());
  return b;
}

void check_memory_matches(const Workload& w, const Replay& r) {
  int compared = 0;
  for (std::uint32_t rel = 0; rel < w.relation_count(); ++rel) {
    for (std::uint32_t blk = 0; blk < 64; ++blk) {
      const Page* p = w.page(rel, blk);
      if (p == nullptr) continue;
      auto it = r.pages.find({w.rnode(rel).rel, blk});
      REQUIRE(it != r.pages.end());
      CHECK(it->second == *p);
      ++compared;
    }
  }
  CHECK(compared >= 2 + 3 * 6);
}

}  // namespace

TEST_CASE("fpw on: images exactly on the first change after each checkpoint; replay is byte for byte") {
  Workload w(small_config(true), kStart, wal::Lsn{});
  std::vector<std::uint8_t> all;
  Replay r;
  while (w.blocks_to_load() > 0) w.load_step();
  w.checkpoint(1'700'000'000'000'000);
  std::uint64_t seed = 1;
  std::uint32_t txn_fpis = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 150; ++i) {
      auto res = w.run_txn(seed++, 1'700'000'000'000'000 + i);
      CHECK(res.records >= 1);
      CHECK(res.commit_end == w.end_lsn());
      txn_fpis += res.fpis;
    }
    w.checkpoint(1'700'000'000'000'000);
  }
  drain(w, all, r.journal);
  replay(all, kStart, r, true);
  CHECK(r.checkpoints == 4);
  CHECK(r.commits == 450);
  CHECK(r.fpw_images == static_cast<int>(txn_fpis));
  CHECK(w.fpi_total() == txn_fpis);
  // Every hot page is touched in each of the three rounds: at least 3 FPIs each
  // for warehouse and district alone.
  CHECK(txn_fpis >= 6);
  CHECK(r.deltas > r.fpw_images);
  CHECK(r.journal_checks == r.images + r.deltas);
  check_memory_matches(w, r);
}

TEST_CASE("fpw off: no images but new blocks; XLOG_FPW_CHANGE turns the rule on") {
  Workload w(small_config(false), kStart, wal::Lsn{});
  std::vector<std::uint8_t> all;
  Replay r;
  while (w.blocks_to_load() > 0) w.load_step();
  w.checkpoint(0);
  std::uint32_t fpis = 0, new_pages = 0;
  for (int i = 0; i < 200; ++i) {
    auto res = w.run_txn(1000 + i, 0);
    fpis += res.fpis;
    new_pages += res.new_pages;
  }
  CHECK(fpis == 0);
  CHECK(new_pages >= 4);  // the four append relations started
  wal::Lsn switch_end = w.set_fpw(true);
  CHECK(switch_end == w.end_lsn());
  CHECK(w.fpw());
  // Pages changed since the redo point carry no image; untouched ones (pd_lsn
  // <= redo) get one on their next change.
  for (int i = 0; i < 200; ++i) fpis += w.run_txn(5000 + i, 0).fpis;
  w.checkpoint(0);
  std::uint32_t after_cp = 0;
  for (int i = 0; i < 50; ++i) after_cp += w.run_txn(9000 + i, 0).fpis;
  CHECK(after_cp >= 2);  // at least warehouse and district again
  drain(w, all, r.journal);
  replay(all, kStart, r, false);
  CHECK(r.fpw_changes == 1);
  CHECK(r.fpw_images == static_cast<int>(fpis + after_cp));
  check_memory_matches(w, r);
}

TEST_CASE("continuing a timeline mid-page on relations of its own") {
  // A first compute writes some WAL; a second one starts at its end with its
  // own relfilenodes and needs nothing the first one had.
  Workload first(small_config(true), kStart, wal::Lsn{});
  std::vector<std::uint8_t> all;
  std::vector<JournalEntry> j1;
  while (first.blocks_to_load() > 0) first.load_step();
  first.checkpoint(0);
  for (int i = 0; i < 20; ++i) first.run_txn(i, 0);
  drain(first, all, j1);
  WorkloadConfig c2 = small_config(true);
  c2.rel_base = 16384 + 512;
  Workload second(c2, first.end_lsn(), first.prev_record());
  Replay r;
  while (second.blocks_to_load() > 0) second.load_step();
  second.checkpoint(0);
  for (int i = 0; i < 100; ++i) second.run_txn(100 + i, 0);
  r.journal = j1;
  drain(second, all, r.journal);
  replay(all, kStart, r, true);
  CHECK(r.commits == 120);
  check_memory_matches(second, r);
  check_memory_matches(first, r);
}

}  // namespace wq::compute
