// The synthetic compute's engine: TPC-C-like tables as relations of real heap
// pages, New-Order and Payment transactions turned into generic-WAL records
// (page-diff fragments, at most 4 pages each) and a commit record, checkpoints,
// and PostgreSQL's full-page-write rule. It owns the single WAL insert
// position (a wal::WalWriter); the caller serializes calls (one mutex, like
// PostgreSQL's WAL insert lock) and hands the produced bytes to the proposer.
// Pure: no clock (times come in as arguments), no threads, no I/O.
//
// Tables (relation index -> relfilenode rel_base + index):
//   0 warehouse (1 block), 1 district (1 block): hot, updated by every transaction;
//   2 .. 2+R-1 data relations of B loaded blocks each, even ones stock-like
//     (24 rows/page, New-Order updates 5..15 rows), odd ones customer-like
//     (12 rows/page, Payment updates one); a hot set gets most accesses;
//   then orders, new_order, order_line, history: append-only, a new block
//     logged as a full image of the (nearly empty) page, as bloom does.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "compute/page_model.h"
#include "compute/truth.h"
#include "wal/encoder.h"

namespace wq::compute {

struct WorkloadConfig {
  std::uint32_t relations = 8;        // data relations (R)
  std::uint32_t blocks = 16384;       // blocks per data relation (B)
  std::uint32_t hot_blocks_pct = 10;  // the first hot_blocks_pct % of each data relation's blocks ...
  std::uint32_t hot_access_pct = 50;  // ... get this % of the data-page accesses; the rest is uniform
  std::uint32_t rel_base = 16384;     // relfilenode of relation index 0
  std::uint32_t spc = wal::kDefaultTablespace;
  std::uint32_t db = 16384;
  std::uint32_t tli = 1;
  std::uint64_t system_id = 0;
  std::uint64_t seg_size = wal::kDefaultSegmentSize;
  std::uint32_t first_xid = 1000;
  bool fpw = true;
  bool journal = false;  // collect JournalEntry values for take_journal()
};

struct TxnResult {
  bool new_order = false;
  wal::Lsn commit_start;        // the commit record's span [commit_start, commit_end) in the WAL stream
  wal::Lsn commit_end;          // wait for quorum commit of this
  std::uint32_t commit_crc = 0; // crc32c of the stream bytes in that span (page headers included)
  std::uint32_t records = 0;    // generic records (commit excluded)
  std::uint32_t fpis = 0;       // full-page images taken by the FPW rule
  std::uint32_t new_pages = 0;  // append blocks started (always logged as images)
};

class Workload {
 public:
  // Writes from `start` (Elected::term_start_lsn) with xl_prev = prev_record.
  Workload(const WorkloadConfig& config, wal::Lsn start, wal::Lsn prev_record);

  // Number of data-relation blocks still to load; load_step() loads up to 4
  // (one generic record of full images) and returns how many it loaded.
  std::uint64_t blocks_to_load() const { return load_total_ - load_next_; }
  std::uint32_t load_step();

  // One transaction: seed chooses everything (kind, rows, bytes); now_us is
  // its commit timestamp in microseconds since the Unix epoch.
  TxnResult run_txn(std::uint64_t seed, std::int64_t now_us);

  // An online checkpoint: the redo point is where the next record goes, then
  // the XLOG_CHECKPOINT_ONLINE record. Returns the redo point.
  wal::Lsn checkpoint(std::int64_t now_us);
  // Writes XLOG_FPW_CHANGE and switches the rule (PostgreSQL: the record is
  // written before turning off and after turning on; here both happen under
  // the caller's lock, so the order makes no difference). Returns its end LSN.
  wal::Lsn set_fpw(bool on);
  bool fpw() const { return config_.fpw; }
  wal::Lsn redo() const { return redo_; }

  // WAL produced since the last take_bytes(): whole records, starting at
  // bytes_start(), ending at end_lsn().
  std::size_t pending_bytes() const { return writer_.bytes().size(); }
  wal::Lsn bytes_start() const { return writer_.bytes_start(); }
  std::vector<std::uint8_t> take_bytes() { return writer_.take_bytes(); }
  wal::Lsn end_lsn() const { return writer_.end_lsn(); }
  wal::Lsn prev_record() const { return writer_.prev_record(); }

  std::vector<JournalEntry> take_journal();

  // Relation index -> relfilenode; the page currently held in memory for
  // (index, blk) or null (append relations keep only their last block).
  std::uint32_t relation_count() const { return kDataBase + config_.relations + 4; }
  wal::RelFileNode rnode(std::uint32_t rel_index) const;
  const Page* page(std::uint32_t rel_index, std::uint32_t blk) const;
  std::uint64_t fpi_total() const { return fpi_total_; }
  std::uint32_t next_xid() const { return next_xid_; }

 private:
  static constexpr std::uint32_t kWarehouse = 0, kDistrict = 1, kDataBase = 2;
  // Append relations follow the data relations: index kDataBase + R + k.
  enum AppendRel : std::uint32_t { kOrders = 0, kNewOrder = 1, kOrderLine = 2, kHistory = 3 };

  struct Touched {
    std::uint32_t rel = 0;  // relation index
    std::uint32_t blk = 0;
    Page old{};             // before the first change in this transaction
    std::vector<Op> ops;
  };
  struct Tail {
    std::uint32_t blk = 0;
    Page page{};
  };

  std::uint32_t append_rel(AppendRel a) const { return kDataBase + config_.relations + a; }
  bool is_data(std::uint32_t rel) const { return rel >= kDataBase && rel < kDataBase + config_.relations; }
  Page& page_ref(std::uint32_t rel, std::uint32_t blk);
  std::uint32_t pick_data_block(std::uint64_t r) const;
  std::uint32_t pick_data_rel(bool stock, std::uint64_t r) const;
  // Applies op to the page now, remembering the page as it was before its first
  // change in this transaction and the ops, for emit().
  void change(std::uint32_t rel, std::uint32_t blk, const Op& op);
  void update(std::uint32_t rel, std::uint64_t r, std::uint16_t len, std::uint32_t xid);
  void insert(AppendRel a, std::uint16_t len, std::uint32_t xid, std::uint64_t nonce);
  // Logs the changed pages in first-change order, at most 4 per generic record.
  void emit(std::uint32_t xid, TxnResult& res);
  std::uint32_t take_xid();

  WorkloadConfig config_;
  wal::WalWriter writer_;
  wal::Lsn redo_;  // pages with pd_lsn <= redo_ get a full-page image on their next change (fpw on)
  std::vector<std::vector<Page>> data_;  // [data relation][block]
  std::vector<std::uint16_t> rows_;      // rows per page of each data relation
  Page warehouse_{}, district_{};
  std::map<std::uint32_t, Tail> tails_;  // append relation index -> last block
  // Blocks an append relation left during the current transaction, kept until emit() logged them.
  std::map<std::pair<std::uint32_t, std::uint32_t>, Page> retired_;
  std::uint64_t load_total_ = 0, load_next_ = 0;
  std::uint32_t next_xid_;
  std::uint64_t fpi_total_ = 0;
  std::vector<JournalEntry> journal_;
  std::vector<Touched> touched_;  // the current transaction's pages
};

}  // namespace wq::compute
