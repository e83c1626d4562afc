// The synthetic compute's engine (see workload.h).
#include "compute/workload.h"

#include <algorithm>

#include "base/assert.h"
#include "wal/crc32c.h"

namespace wq::compute {
namespace {

// Row data bytes (after the 24-byte tuple header), close to TPC-C's row sizes.
constexpr std::uint16_t kWarehouseRow = 65, kDistrictRow = 71, kStockRow = 282, kCustomerRow = 631;
constexpr std::uint16_t kOrdersRow = 12, kNewOrderRow = 8, kOrderLineRow = 30, kHistoryRow = 22;
// Bytes an update rewrites: the columns TPC-C changes (s_quantity, s_ytd,
// s_order_cnt, s_remote_cnt; c_balance, c_ytd_payment, c_payment_cnt; ...).
constexpr std::uint16_t kStockChange = 16, kCustomerChange = 18, kDistrictNextOid = 4, kYtdChange = 8;
constexpr std::int64_t kPgEpochUnixUs = 946684800ll * 1000000;  // 2000-01-01 in Unix microseconds

}  // namespace

Workload::Workload(const WorkloadConfig& config, wal::Lsn start, wal::Lsn prev_record)
    : config_(config),
      writer_(start, config.tli, config.system_id, config.seg_size, prev_record),
      next_xid_(std::max<std::uint32_t>(config.first_xid, 3)) {
  WQ_ASSERT(config_.relations >= 1 && config_.blocks >= 1, "{} relations of {} blocks",
            config_.relations, config_.blocks);
  WQ_ASSERT(config_.hot_blocks_pct >= 1 && config_.hot_blocks_pct <= 100 &&
                config_.hot_access_pct <= 100,
            "hot set {}% of blocks, {}% of accesses", config_.hot_blocks_pct, config_.hot_access_pct);
  data_.resize(config_.relations);
  for (auto& rel : data_) rel.resize(config_.blocks, Page{});
  rows_.resize(config_.relations);
  load_total_ = 2 + static_cast<std::uint64_t>(config_.relations) * config_.blocks;
}

wal::RelFileNode Workload::rnode(std::uint32_t rel_index) const {
  return wal::RelFileNode{config_.spc, config_.db, config_.rel_base + rel_index};
}

Page& Workload::page_ref(std::uint32_t rel, std::uint32_t blk) {
  if (rel == kWarehouse) return warehouse_;
  if (rel == kDistrict) return district_;
  if (is_data(rel)) return data_[rel - kDataBase][blk];
  auto r = retired_.find({rel, blk});
  if (r != retired_.end()) return r->second;
  auto t = tails_.find(rel);
  WQ_ASSERT(t != tails_.end() && t->second.blk == blk, "relation {} block {} is not in memory", rel, blk);
  return t->second.page;
}

const Page* Workload::page(std::uint32_t rel, std::uint32_t blk) const {
  if (rel == kWarehouse) return blk == 0 ? &warehouse_ : nullptr;
  if (rel == kDistrict) return blk == 0 ? &district_ : nullptr;
  if (is_data(rel)) return blk < config_.blocks ? &data_[rel - kDataBase][blk] : nullptr;
  auto t = tails_.find(rel);
  return t != tails_.end() && t->second.blk == blk ? &t->second.page : nullptr;
}

std::uint32_t Workload::take_xid() {
  std::uint32_t xid = next_xid_++;
  if (next_xid_ < 3) next_xid_ = 3;  // wraparound skips the special xids 0..2
  return xid;
}

void Workload::change(std::uint32_t rel, std::uint32_t blk, const Op& op) {
  Page& p = page_ref(rel, blk);
  auto it = std::find_if(touched_.begin(), touched_.end(),
                         [&](const Touched& t) { return t.rel == rel && t.blk == blk; });
  if (it == touched_.end()) {
    touched_.push_back(Touched{rel, blk, p, {}});
    it = touched_.end() - 1;
  }
  apply_op(p, blk, op);
  it->ops.push_back(op);
}

std::uint32_t Workload::pick_data_rel(bool stock, std::uint64_t r) const {
  std::uint32_t n = config_.relations;
  if (n == 1) return kDataBase;
  if (stock) return kDataBase + 2 * static_cast<std::uint32_t>(r % ((n + 1) / 2));
  return kDataBase + 1 + 2 * static_cast<std::uint32_t>(r % (n / 2));
}

std::uint32_t Workload::pick_data_block(std::uint64_t r) const {
  std::uint32_t hot = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(
                                                     std::uint64_t{config_.blocks} * config_.hot_blocks_pct / 100));
  bool in_hot = (r % 100) < config_.hot_access_pct;
  return static_cast<std::uint32_t>((r >> 8) % (in_hot ? hot : config_.blocks));
}

void Workload::update(std::uint32_t rel, std::uint64_t r, std::uint16_t len, std::uint32_t xid) {
  std::uint32_t blk = is_data(rel) ? pick_data_block(r) : 0;
  std::uint16_t rows = item_count(page_ref(rel, blk));
  WQ_ASSERT(rows > 0, "update of relation {} block {} before it was loaded", rel, blk);
  std::uint64_t r2 = mix64(r);
  Op op{Op::kUpdate, static_cast<std::uint16_t>(1 + r2 % rows), len, xid, mix64(r2)};
  change(rel, blk, op);
}

void Workload::insert(AppendRel a, std::uint16_t len, std::uint32_t xid, std::uint64_t nonce) {
  std::uint32_t rel = append_rel(a);
  Tail& t = tails_[rel];
  Op ins{Op::kInsert, 0, len, xid, nonce};
  if (pd_upper(t.page) == 0) change(rel, t.blk, Op{Op::kInitEmpty, 0, 0, 0, 0});
  if (!fits(t.page, ins)) {
    retired_[{rel, t.blk}] = t.page;
    t.blk += 1;
    t.page.fill(0);
    change(rel, t.blk, Op{Op::kInitEmpty, 0, 0, 0, 0});
  }
  change(rel, t.blk, ins);
}

void Workload::emit(std::uint32_t xid, TxnResult& res) {
  for (std::size_t first = 0; first < touched_.size(); first += wal::XLR_NORMAL_MAX_BLOCK_ID) {
    std::size_t n = std::min<std::size_t>(wal::XLR_NORMAL_MAX_BLOCK_ID, touched_.size() - first);
    std::vector<wal::GenericBlock> blocks;
    std::uint32_t fpis = 0, new_pages = 0;
    for (std::size_t i = first; i < first + n; ++i) {
      const Touched& t = touched_[i];
      bool is_new = pd_upper(t.old) == 0;  // PageIsNew: a block being created
      // PostgreSQL's rule (XLogRecordAssemble): with full_page_writes, the first
      // change of a page after the redo point carries an image of it instead of a delta.
      bool fpi = !is_new && config_.fpw && page_lsn(t.old) <= redo_;
      fpis += fpi ? 1 : 0;
      new_pages += is_new ? 1 : 0;
      blocks.push_back(wal::GenericBlock{rnode(t.rel), wal::MAIN_FORKNUM, t.blk, &t.old,
                                         &page_ref(t.rel, t.blk), is_new || fpi});
    }
    wal::WalWriter::Placed placed = writer_.append(wal::make_generic_record(xid, blocks));
    for (std::size_t i = first; i < first + n; ++i) {
      const Touched& t = touched_[i];
      // pd_lsn = the record's end, as GenericXLogFinish does after XLogInsert.
      set_page_lsn(page_ref(t.rel, t.blk), placed.end);
      if (config_.journal) {
        for (const Op& op : t.ops) journal_.push_back(JournalEntry{placed.end, rnode(t.rel).rel, t.blk, op});
      }
    }
    res.records += 1;
    res.fpis += fpis;
    res.new_pages += new_pages;
    fpi_total_ += fpis;
  }
  touched_.clear();
  retired_.clear();
}

std::uint32_t Workload::load_step() {
  std::uint32_t loaded = 0;
  while (loaded < wal::XLR_NORMAL_MAX_BLOCK_ID && load_next_ < load_total_) {
    std::uint64_t k = load_next_++;
    std::uint32_t rel, blk;
    std::uint16_t row;
    if (k < 2) {
      rel = static_cast<std::uint32_t>(k);
      blk = 0;
      row = k == 0 ? kWarehouseRow : kDistrictRow;
    } else {
      rel = kDataBase + static_cast<std::uint32_t>((k - 2) / config_.blocks);
      blk = static_cast<std::uint32_t>((k - 2) % config_.blocks);
      row = ((rel - kDataBase) % 2 == 0 || config_.relations == 1) ? kStockRow : kCustomerRow;
    }
    change(rel, blk, Op{Op::kInitFilled, 0, row, 0, mix64(rnode(rel).rel * 0x100000001ull + blk)});
    ++loaded;
  }
  if (loaded > 0) {
    TxnResult ignored;
    emit(0, ignored);  // a bulk load: no transaction id, no commit record
  }
  return loaded;
}

TxnResult Workload::run_txn(std::uint64_t seed, std::int64_t now_us) {
  WQ_ASSERT(load_next_ == load_total_, "transaction before the load finished ({} of {} blocks)",
            load_next_, load_total_);
  auto rnd = [seed](std::uint64_t k) { return mix64(seed ^ (k * 0xD1B54A32D192ED03ull)); };
  std::uint32_t xid = take_xid();
  TxnResult res;
  // TPC-C's mix is 45 % New-Order and 43 % Payment among 100; the read-only
  // kinds write no WAL. Of the writing ones, 51 % are New-Order.
  res.new_order = rnd(0) % 100 < 51;
  if (res.new_order) {
    update(kDistrict, rnd(1), kDistrictNextOid, xid);
    insert(kOrders, kOrdersRow, xid, rnd(2));
    insert(kNewOrder, kNewOrderRow, xid, rnd(3));
    std::uint32_t lines = 5 + static_cast<std::uint32_t>(rnd(4) % 11);
    for (std::uint32_t i = 0; i < lines; ++i) {
      update(pick_data_rel(true, rnd(100 + i)), rnd(200 + i), kStockChange, xid);
      insert(kOrderLine, kOrderLineRow, xid, rnd(300 + i));
    }
  } else {
    update(kWarehouse, rnd(1), kYtdChange, xid);
    update(kDistrict, rnd(2), kYtdChange, xid);
    update(pick_data_rel(false, rnd(3)), rnd(4), kCustomerChange, xid);
    insert(kHistory, kHistoryRow, xid, rnd(5));
  }
  emit(xid, res);
  auto placed = writer_.append(wal::make_commit_record(xid, now_us - kPgEpochUnixUs));
  res.commit_start = placed.start;
  res.commit_end = placed.end;
  // The pending bytes start at or before every record of this transaction
  // (take_bytes() runs between transactions only), so the span lies in them.
  auto bytes = writer_.bytes();
  std::uint64_t from = placed.start - writer_.bytes_start();
  std::uint64_t to = placed.end - writer_.bytes_start();
  WQ_ASSERT(from <= to && to <= bytes.size(), "commit record [{}, {}) outside the pending bytes", placed.start, placed.end);
  res.commit_crc = wal::crc32c(bytes.data() + from, to - from);
  return res;
}

wal::Lsn Workload::checkpoint(std::int64_t now_us) {
  wal::CheckPoint cp;
  cp.redo = writer_.next_record_lsn();
  cp.tli = config_.tli;
  cp.prev_tli = config_.tli;
  cp.full_page_writes = config_.fpw;
  cp.next_xid = next_xid_;
  cp.next_oid = config_.rel_base + relation_count();
  cp.next_multi = 1;
  cp.oldest_xid = 3;
  cp.oldest_xid_db = 1;
  cp.oldest_multi = 1;
  cp.oldest_multi_db = 1;
  cp.time = now_us / 1000000;
  cp.oldest_active_xid = next_xid_;
  writer_.append(wal::make_checkpoint_record(cp));
  redo_ = cp.redo;
  return redo_;
}

wal::Lsn Workload::set_fpw(bool on) {
  wal::Lsn end = writer_.append(wal::make_fpw_change_record(on)).end;
  config_.fpw = on;
  return end;
}

std::vector<JournalEntry> Workload::take_journal() {
  std::vector<JournalEntry> out;
  out.swap(journal_);
  return out;
}

}  // namespace wq::compute
