// Where a safekeeper's files live under its data directory (ARCHITECTURE.md §3):
//   <data>/timelines/<tenant-hex>/<timeline-hex>/   WAL segments (WalStore)
//   <data>/meta/                                    LevelDB control store (ControlStore)
//   <data>/meta.reserve                             space kept for metadata writes
#pragma once

#include <string>

#include "core/types.h"

namespace wq::storage {

inline std::string timelines_dir(const std::string& data_dir) { return data_dir + "/timelines"; }

inline std::string timeline_dir(const std::string& data_dir, const core::TimelineKey& key) {
  return timelines_dir(data_dir) + "/" + key.tenant.to_hex() + "/" + key.timeline.to_hex();
}

}  // namespace wq::storage
