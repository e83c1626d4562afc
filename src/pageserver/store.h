// PageStore: the pageserver's versions of pages in one LevelDB database (key
// layout in keys.h). Writes are unsynced; sync_durable_lsn() is the one synced
// write, and because LevelDB's log is sequential it makes every earlier write
// durable too, so the durable LSN it records covers only synced data. A failed
// LevelDB write ends the process (STYLE.md "Errors" rule 5). Thread-safe:
// LevelDB serialises writers and lets readers run beside them.
#pragma once

#include <cstdint>
#include <memory>
#include <atomic>
#include <optional>
#include <span>
#include <string>

#include "base/result.h"
#include "pageserver/ingest.h"
#include "pageserver/keys.h"
#include "pageserver/redo.h"

namespace leveldb {
class DB;
}

namespace wq::pageserver {

class PageStore {
 public:
  // Opens (creating) the database at path. kIo naming the path on failure.
  static base::Result<std::unique_ptr<PageStore>> open(const std::string& path);
  ~PageStore();
  PageStore(const PageStore&) = delete;
  PageStore& operator=(const PageStore&) = delete;

  // One atomic, unsynced batch.
  void write(std::span<const Put> puts);
  // A materialised image (unsynced; losing it only lengthens a chain).
  void put_image(const PageId& page, wal::Lsn lsn, const wal::Page& image);
  struct Image {
    PageId page;
    wal::Lsn lsn;
    wal::Page image;
  };
  // Several at once, in one unsynced batch.
  void put_images(std::span<const Image> images);
  // Synced: everything written before is durable once this returns.
  void sync_durable_lsn(wal::Lsn lsn);
  // As recorded at open (nullopt: a new store).
  std::optional<wal::Lsn> recorded_durable_lsn() const { return durable_at_open_; }

  // The page as of lsn: the newest base <= lsn plus the deltas up to lsn.
  // Reads below the retention horizon are kRefused.
  base::Result<Reconstructed> read(const PageId& page, wal::Lsn lsn) const;

  // Deltas after the page's newest base, counted up to `limit` (0 for a page
  // never seen). Seeds the pushdown count after a restart.
  std::uint32_t deltas_since_newest_base(const PageId& page, std::uint32_t limit) const;

  // Retention: for every page, drops the bases older than its newest base at or
  // below `horizon` and every delta at or below that base, so reads at or after
  // the horizon return the same pages. Returns the number of keys deleted.
  std::uint64_t compact(wal::Lsn horizon);
  wal::Lsn horizon() const;

  // LevelDB's own figures ("leveldb.stats"), for status.
  std::string stats() const;

 private:
  explicit PageStore(leveldb::DB* db);
  leveldb::DB* db_;
  std::optional<wal::Lsn> durable_at_open_;
  std::atomic<std::uint64_t> horizon_{0};  // reads below it are refused
};

}  // namespace wq::pageserver
