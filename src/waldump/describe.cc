// Text, JSON and --stats formatting for walquorum-waldump.
#include "waldump/describe.h"

#include <iterator>
#include <span>
#include <string_view>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "wal/format.h"

namespace wq::waldump {

using wal::DecodedRecord;

namespace {

const char* fork_name(std::uint8_t fork) {
  switch (fork) {
    case wal::MAIN_FORKNUM: return "main";
    case wal::FSM_FORKNUM: return "fsm";
    case wal::VISIBILITYMAP_FORKNUM: return "vm";
    case wal::INIT_FORKNUM: return "init";
    default: return nullptr;
  }
}

std::string fork_text(std::uint8_t fork) {
  const char* n = fork_name(fork);
  return n != nullptr ? std::string(n) : fmt::format("{}", fork);
}

const char* compression_name(wal::BlockRef::Compression c) {
  switch (c) {
    case wal::BlockRef::kNone: return "none";
    case wal::BlockRef::kPglz: return "pglz";
    case wal::BlockRef::kLz4: return "lz4";
    case wal::BlockRef::kZstd: return "zstd";
  }
  return "unknown";
}

// Tables of rm_identify names, indexed by info >> 4 (0x80 bits handled per rmgr).
constexpr std::string_view kXlogNames[16] = {
    "CHECKPOINT_SHUTDOWN", "CHECKPOINT_ONLINE", "NOOP", "NEXTOID", "SWITCH", "BACKUP_END",
    "PARAMETER_CHANGE", "RESTORE_POINT", "FPW_CHANGE", "END_OF_RECOVERY", "FPI_FOR_HINT", "FPI",
    "", "OVERWRITE_CONTRECORD", "", ""};
constexpr std::string_view kXactNames[8] = {"COMMIT", "PREPARE", "ABORT", "COMMIT_PREPARED",
                                            "ABORT_PREPARED", "ASSIGNMENT", "INVALIDATION", ""};
constexpr std::string_view kHeapNames[8] = {"INSERT", "DELETE",  "UPDATE", "TRUNCATE",
                                            "HOT_UPDATE", "CONFIRM", "LOCK", "INPLACE"};
constexpr std::string_view kHeap2Names[8] = {"REWRITE", "PRUNE", "VACUUM", "FREEZE_PAGE",
                                             "VISIBLE", "MULTI_INSERT", "LOCK_UPDATED", "NEW_CID"};
constexpr std::string_view kBtreeNames[16] = {
    "INSERT_LEAF", "INSERT_UPPER", "INSERT_META", "SPLIT_L", "SPLIT_R", "INSERT_POST", "DEDUP",
    "DELETE", "UNLINK_PAGE", "UNLINK_PAGE_META", "NEWROOT", "MARK_PAGE_HALFDEAD", "VACUUM",
    "REUSE_PAGE", "META_CLEANUP", ""};
constexpr std::string_view kMultiXactNames[4] = {"ZERO_OFF_PAGE", "ZERO_MEM_PAGE", "CREATE_ID",
                                                 "TRUNCATE_ID"};
constexpr std::string_view kStandbyNames[3] = {"LOCK", "RUNNING_XACTS", "INVALIDATIONS"};
constexpr std::string_view kDbaseNames[3] = {"CREATE_FILE_COPY", "CREATE_WAL_LOG", "DROP"};

template <std::size_t N>
std::string_view pick(const std::string_view (&names)[N], std::size_t i) {
  return i < N ? names[i] : std::string_view{};
}

// rm_identify names with the XLOG_HEAP_INIT_PAGE bit.
std::string_view plus_init(std::string_view name, bool init) {
  if (!init) return name;
  if (name == "INSERT") return "INSERT+INIT";
  if (name == "UPDATE") return "UPDATE+INIT";
  if (name == "HOT_UPDATE") return "HOT_UPDATE+INIT";
  if (name == "MULTI_INSERT") return "MULTI_INSERT+INIT";
  return name;
}

std::string_view identify_known(const DecodedRecord& rec) {
  std::uint8_t info = rec.rmgr_info();
  std::size_t hi = info >> 4;
  switch (rec.rmid) {
    case wal::RM_XLOG_ID: return pick(kXlogNames, hi);
    case wal::RM_XACT_ID: return pick(kXactNames, (info & wal::XLOG_XACT_OPMASK) >> 4);
    case wal::RM_SMGR_ID: return info == 0x10 ? "CREATE" : info == 0x20 ? "TRUNCATE" : "";
    case wal::RM_CLOG_ID:
    case wal::RM_COMMIT_TS_ID: return info == 0x00 ? "ZEROPAGE" : info == 0x10 ? "TRUNCATE" : "";
    case wal::RM_DBASE_ID: return pick(kDbaseNames, hi);
    case wal::RM_TBLSPC_ID: return info == 0x00 ? "CREATE" : info == 0x10 ? "DROP" : "";
    case wal::RM_MULTIXACT_ID: return pick(kMultiXactNames, hi);
    case wal::RM_RELMAP_ID: return info == 0x00 ? "UPDATE" : "";
    case wal::RM_STANDBY_ID: return pick(kStandbyNames, hi);
    case wal::RM_HEAP2_ID: return plus_init(pick(kHeap2Names, (info & 0x70) >> 4),
                                            (info & 0x70) == 0x50 && (info & 0x80));
    case wal::RM_HEAP_ID: {
      std::size_t op = (info & 0x70) >> 4;
      bool can_init = op == 0 || op == 2 || op == 4;  // INSERT, UPDATE, HOT_UPDATE
      return plus_init(pick(kHeapNames, op), can_init && (info & 0x80));
    }
    case wal::RM_BTREE_ID: return pick(kBtreeNames, hi);
    case wal::RM_SEQ_ID: return info == 0x00 ? "LOG" : "";
    case wal::RM_REPLORIGIN_ID: return info == 0x00 ? "SET" : info == 0x10 ? "DROP" : "";
    case wal::RM_GENERIC_ID: return "Generic";
    case wal::RM_LOGICALMSG_ID: return info == 0x00 ? "MESSAGE" : "";
    default: return "";
  }
}

// A few rmgr-specific details; everything else prints the identify name only.
std::string details(const DecodedRecord& rec) {
  std::span<const std::uint8_t> main = rec.main_data();
  if (rec.rmid != wal::RM_XLOG_ID) return {};
  switch (rec.rmgr_info()) {
    case wal::XLOG_FPW_CHANGE:
      if (main.size() >= 1) return main[0] != 0 ? "true" : "false";
      break;
    case wal::XLOG_NEXTOID:
      if (main.size() >= 4) return fmt::format("{}", wal::load_u32(main.data()));
      break;
    case wal::XLOG_CHECKPOINT_ONLINE:
    case wal::XLOG_CHECKPOINT_SHUTDOWN:
      if (main.size() >= wal::kCheckPointSize) {
        const std::uint8_t* p = main.data();
        std::uint64_t redo = wal::load_u64(p);
        std::uint64_t next_xid = wal::load_u64(p + 24);
        return fmt::format("redo {}; tli {}; prev tli {}; fpw {}; xid {}:{}; oid {}; multi {}",
                           wal::Lsn(redo), wal::load_u32(p + 8), wal::load_u32(p + 12),
                           p[16] != 0 ? "true" : "false", next_xid >> 32,
                           next_xid & 0xFFFFFFFFu, wal::load_u32(p + 32), wal::load_u32(p + 36));
      }
      break;
    case wal::XLOG_OVERWRITE_CONTRECORD:
      if (main.size() >= 8) return fmt::format("lsn {}", wal::Lsn(wal::load_u64(main.data())));
      break;
    default:
      break;
  }
  return {};
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string identify(const DecodedRecord& rec) {
  std::string_view id = identify_known(rec);
  if (id.empty()) return fmt::format("UNKNOWN ({:x})", rec.rmgr_info());
  return std::string(id);
}

void append_text(const DecodedRecord& rec, fmt::memory_buffer& out) {
  auto it = std::back_inserter(out);
  std::string_view id = identify_known(rec);
  fmt::format_to(it,
                 FMT_COMPILE("rmgr: {:<11} len (rec/tot): {:>6}/{:>6}, tx: {:>10}, lsn: {:X}/{:08X}, "
                 "prev {:X}/{:08X}, desc: "),
                 wal::rmgr_name(rec.rmid), rec.tot_len - rec.fpi_bytes, rec.tot_len, rec.xid,
                 rec.start_lsn.value() >> 32, rec.start_lsn.value() & 0xFFFFFFFFu,
                 rec.prev_lsn.value() >> 32, rec.prev_lsn.value() & 0xFFFFFFFFu);
  if (id.empty()) {
    fmt::format_to(it, FMT_COMPILE("UNKNOWN ({:x}) "), rec.rmgr_info());
  } else {
    out.append(id);
    out.push_back(' ');
  }
  if (rec.rmid == wal::RM_XLOG_ID) out.append(std::string_view(details(rec)));
  for (const wal::BlockRef& b : rec.blocks) {
    if (b.fork != wal::MAIN_FORKNUM) {
      fmt::format_to(it, FMT_COMPILE(", blkref #{}: rel {}/{}/{} fork {} blk {}"), b.id, b.spc, b.db, b.rel,
                     fork_text(b.fork), b.blk);
    } else {
      fmt::format_to(it, FMT_COMPILE(", blkref #{}: rel {}/{}/{} blk {}"), b.id, b.spc, b.db, b.rel, b.blk);
    }
    if (b.has_image) out.append(std::string_view(b.apply_image ? " FPW" : " FPW for WAL verification"));
  }
}

std::string format_text(const DecodedRecord& rec) {
  fmt::memory_buffer out;
  append_text(rec, out);
  return fmt::to_string(out);
}

std::string format_json(const DecodedRecord& rec) {
  fmt::memory_buffer out;
  append_json(rec, out);
  return fmt::to_string(out);
}

void append_json(const DecodedRecord& rec, fmt::memory_buffer& out) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, 
      FMT_COMPILE("{{\"start_lsn\":\"{}\",\"end_lsn\":\"{}\",\"prev_lsn\":\"{}\",\"rmgr\":\"{}\",\"rmid\":{},"
      "\"info\":{},\"type\":\"{}\",\"xid\":{},\"total_len\":{},\"rec_len\":{},\"fpi_len\":{},"
      "\"main_data_len\":{},\"blocks\":["),
      rec.start_lsn, rec.end_lsn, rec.prev_lsn, json_escape(wal::rmgr_name(rec.rmid)), rec.rmid,
      rec.info, json_escape(identify(rec)), rec.xid, rec.tot_len, rec.tot_len - rec.fpi_bytes,
      rec.fpi_bytes, rec.main_data_len);
  bool first = true;
  for (const wal::BlockRef& b : rec.blocks) {
    if (!first) out.push_back(',');
    first = false;
    fmt::format_to(it,
        FMT_COMPILE("{{\"id\":{},\"spc\":{},\"db\":{},\"rel\":{},\"fork\":{},\"blk\":{},\"has_image\":{},"
        "\"apply_image\":{},\"hole_offset\":{},\"hole_length\":{},\"compression\":\"{}\","
        "\"image_len\":{},\"has_data\":{},\"data_len\":{},\"will_init\":{}}}"),
        b.id, b.spc, b.db, b.rel, b.fork, b.blk, b.has_image, b.apply_image, b.hole_offset,
        b.hole_length, compression_name(b.compression), b.image_length, b.has_data,
        b.data_length, b.will_init);
  }
  out.append(std::string_view("]}"));
}

void Stats::add(const DecodedRecord& rec) {
  RmgrStats& s = by_rmid_[rec.rmid];
  std::uint64_t rec_bytes = rec.tot_len - rec.fpi_bytes;
  s.count += 1;
  s.rec_bytes += rec_bytes;
  s.fpi_bytes += rec.fpi_bytes;
  total_.count += 1;
  total_.rec_bytes += rec_bytes;
  total_.fpi_bytes += rec.fpi_bytes;
}

std::string Stats::format(wal::Lsn start, wal::Lsn end) const {
  auto pct = [](std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  const std::uint64_t total_len = total_.rec_bytes + total_.fpi_bytes;
  std::string out = fmt::format("WAL statistics between {} and {}:\n", start, end);
  out += fmt::format("{:<27} {:>20} {:>8} {:>20} {:>8} {:>20} {:>8} {:>20} {:>8}\n", "Type", "N",
                     "(%)", "Record size", "(%)", "FPI size", "(%)", "Combined size", "(%)");
  out += fmt::format("{:<27} {:>20} {:>8} {:>20} {:>8} {:>20} {:>8} {:>20} {:>8}\n", "----", "-",
                     "---", "-----------", "---", "--------", "---", "-------------", "---");
  for (unsigned id = 0; id < by_rmid_.size(); ++id) {
    auto rmid = static_cast<std::uint8_t>(id);
    if (!wal::rmgr_id_valid(rmid)) continue;
    const RmgrStats& s = by_rmid_[id];
    // pg_waldump lists every built-in resource manager, custom ones only when seen.
    if (rmid >= wal::RM_MIN_CUSTOM_ID && s.count == 0) continue;
    const std::uint64_t len = s.rec_bytes + s.fpi_bytes;
    out += fmt::format("{:<27} {:>20} ({:6.2f}) {:>20} ({:6.2f}) {:>20} ({:6.2f}) {:>20} ({:6.2f})\n",
                       wal::rmgr_name(rmid), s.count, pct(s.count, total_.count), s.rec_bytes,
                       pct(s.rec_bytes, total_.rec_bytes), s.fpi_bytes,
                       pct(s.fpi_bytes, total_.fpi_bytes), len, pct(len, total_len));
  }
  out += fmt::format("{:<27} {:>20} {:>8} {:>20} {:>8} {:>20} {:>8} {:>20}\n", "", "--------", "",
                     "--------", "", "--------", "", "--------");
  out += fmt::format("{:<27} {:>20} {:<9}{:>20} {:<9}{:>20} {:<9}{:>20} {:<6}\n", "Total",
                     total_.count, "", total_.rec_bytes,
                     fmt::format("[{:.2f}%]", pct(total_.rec_bytes, total_len)), total_.fpi_bytes,
                     fmt::format("[{:.2f}%]", pct(total_.fpi_bytes, total_len)), total_len,
                     "[100%]");
  return out;
}

}  // namespace wq::waldump
