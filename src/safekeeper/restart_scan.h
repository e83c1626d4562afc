// The restart policy for one timeline's WAL, as Server::load_timelines applies
// it at every start (and the wal_store_scan fuzz target exercises it): decode
// from the start of the segment holding the persisted commit LSN; damage below
// the commit LSN, or WAL ending below the timeline start, is corruption (the
// timeline refuses to vote until repaired from peers), and the WAL after the
// last valid record is cut; otherwise the torn tail is cut. Logs one event line
// per outcome (event=timeline_loaded / corrupt / corrupt_cut / unrepairable).
#pragma once

#include "core/acceptor.h"
#include "storage/wal_store.h"

namespace wq::safekeeper {

struct RestartVerdict {
  core::Lsn wal_end;          // where the acceptor's WAL ends (invalid: empty store)
  bool corrupt = false;       // refuse to vote until repaired (also set in the state)
  bool unrepairable = false;  // the WAL cannot be scanned at all: serve nothing from it
};

// `store` is freshly opened on the timeline's directory; `st` is its stored
// control state, whose `corrupt` flag is set when the verdict is corrupt. On
// return the store is ready (end of WAL known) unless the verdict is unrepairable
// or the store is empty.
RestartVerdict restart_scan(storage::WalStore& store, core::ControlState& st);

}  // namespace wq::safekeeper
