#include "safekeeper/restart_scan.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace wq::safekeeper {

RestartVerdict restart_scan(storage::WalStore& store, core::ControlState& st) {
  RestartVerdict v;
  if (store.empty()) {
    if (st.commit_lsn.is_valid()) {
      // Every segment is gone: the whole WAL comes back from peers (the
      // acceptor starts empty and takes the peer's WAL from its start).
      st.corrupt = true;
      v.corrupt = true;
      spdlog::error("event=corrupt timeline={} commit_lsn={} reason=\"no WAL segments\": "
                    "refusing to vote until repaired from peers",
                    st.timeline.to_string(), st.commit_lsn);
    }
    return v;
  }
  // Decode from the start of the segment holding the persisted commit LSN,
  // not from the commit LSN itself: then a damaged record in the up to one
  // segment of committed WAL below it is found (kCorrupt) instead of being
  // skipped. A decoder started at a segment boundary skips the leading
  // continuation, and the first segment's headers are valid by construction.
  std::uint64_t seg = st.wal_seg_size;
  core::Lsn from = st.commit_lsn.is_valid() ? core::Lsn(st.commit_lsn.value() - st.commit_lsn.value() % seg)
                                            : store.first_lsn();
  if (from < store.first_lsn()) from = store.first_lsn();
  auto scan = store.find_end_of_wal(from, st.commit_lsn);
  // An acceptor's WAL never ends below its timeline's start: if it does, the
  // first pages are damaged (the acceptor would refuse that state), so it
  // counts as corruption even with nothing committed yet.
  const core::Lsn start = st.timeline_start_lsn;
  if (scan && start.is_valid() && scan->end < start) {
    scan = base::Unexpected{base::ErrorCode::kCorrupt,
                            fmt::format("WAL ends at {} below the timeline start {}", scan->end, start)};
  }
  if (scan) {
    store.cut_torn_tail();
    v.wal_end = scan->end;
    spdlog::info("event=timeline_loaded timeline={} term={} commit_lsn={} end_of_wal={} "
                 "records_scanned={} stop=\"{}\" stop_lsn={} detail=\"{}\"",
                 st.timeline.to_string(), st.term, st.commit_lsn, scan->end, scan->records,
                 storage::stop_name(scan->stop), scan->stop_lsn, scan->reason);
    return v;
  }
  // A CRC error (or missing bytes) below the persisted commit LSN is
  // corruption, not a torn tail: never vote with this WAL. The valid WAL
  // ends where decoding stopped; everything after it is cut and fetched
  // again from peers (peer_recovery.h), after which the timeline votes again.
  st.corrupt = true;
  v.corrupt = true;
  spdlog::error("event=corrupt timeline={} commit_lsn={} reason=\"{}\": refusing to vote "
                "until repaired from peers",
                st.timeline.to_string(), st.commit_lsn, scan.error().message);
  auto valid = store.find_end_of_wal(from, core::Lsn{});
  if (valid && valid->end >= store.wal_start() && (!start.is_valid() || valid->end >= start)) {
    store.cut_torn_tail();
    v.wal_end = valid->end;
    spdlog::warn("event=corrupt_cut timeline={} valid_end={} commit_lsn={}: WAL after the "
                 "damage removed; repair fetches [{}, {}) from peers",
                 st.timeline.to_string(), v.wal_end, st.commit_lsn, v.wal_end, st.commit_lsn);
  } else {
    v.wal_end = st.commit_lsn;
    v.unrepairable = true;
    spdlog::error("event=unrepairable timeline={}: the WAL cannot be scanned at all",
                  st.timeline.to_string());
  }
  return v;
}

}  // namespace wq::safekeeper
