// LevelDB page store. See store.h.
#include "pageserver/store.h"

#include <map>
#include <vector>

#include <fmt/format.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

namespace wq::pageserver {

namespace {

leveldb::Slice slice(std::string_view s) { return leveldb::Slice(s.data(), s.size()); }
std::string_view view(const leveldb::Slice& s) { return std::string_view(s.data(), s.size()); }

void must(const leveldb::Status& s, const char* what) {
  // A lost write would make the durable LSN lie: end the process (STYLE.md Errors 5).
  WQ_ASSERT(s.ok(), "LevelDB {} failed: {}", what, s.ToString());
}

}  // namespace

PageStore::PageStore(leveldb::DB* db) : db_(db) {}
PageStore::~PageStore() { delete db_; }

base::Result<std::unique_ptr<PageStore>> PageStore::open(const std::string& path) {
  leveldb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = 32 << 20;
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, path, &db);
  if (!s.ok()) {
    return base::Unexpected{base::ErrorCode::kIo,
                            fmt::format("cannot open the page store {}: {}", path, s.ToString())};
  }
  std::unique_ptr<PageStore> store(new PageStore(db));
  std::string value;
  s = db->Get(leveldb::ReadOptions(), slice(kDurableLsnKey), &value);
  if (s.ok()) {
    auto lsn = decode_lsn_value(value);
    if (!lsn) {
      return base::Unexpected{base::ErrorCode::kCorrupt,
                              fmt::format("page store {}: durable LSN of {} bytes", path, value.size())};
    }
    store->durable_at_open_ = *lsn;
  } else if (!s.IsNotFound()) {
    return base::Unexpected{base::ErrorCode::kIo, fmt::format("page store {}: {}", path, s.ToString())};
  }
  s = db->Get(leveldb::ReadOptions(), slice(kHorizonKey), &value);
  if (s.ok()) {
    if (auto lsn = decode_lsn_value(value)) store->horizon_ = lsn->value();
  }
  return store;
}

void PageStore::write(std::span<const Put> puts) {
  if (puts.empty()) return;
  leveldb::WriteBatch batch;
  for (const Put& p : puts) {
    batch.Put(version_key(p.kind, p.page, p.lsn), encode_version(p.version));
  }
  must(db_->Write(leveldb::WriteOptions(), &batch), "write");
}

void PageStore::put_image(const PageId& page, wal::Lsn lsn, const wal::Page& image) {
  Version v;
  v.kind = Version::kImage;
  v.bytes.assign(image.begin(), image.end());
  must(db_->Put(leveldb::WriteOptions(), version_key(KeyKind::kBase, page, lsn), encode_version(v)),
       "image write");
}

void PageStore::put_images(std::span<const Image> images) {
  if (images.empty()) return;
  leveldb::WriteBatch batch;
  Version v;
  v.kind = Version::kImage;
  for (const Image& im : images) {
    v.bytes.assign(im.image.begin(), im.image.end());
    batch.Put(version_key(KeyKind::kBase, im.page, im.lsn), encode_version(v));
  }
  must(db_->Write(leveldb::WriteOptions(), &batch), "image batch write");
}

void PageStore::sync_durable_lsn(wal::Lsn lsn) {
  leveldb::WriteOptions sync;
  sync.sync = true;  // the LSN we report to safekeepers must cover only synced data
  must(db_->Put(sync, slice(kDurableLsnKey), encode_lsn_value(lsn)), "durable LSN write");
}

wal::Lsn PageStore::horizon() const { return wal::Lsn(horizon_.load(std::memory_order_acquire)); }

base::Result<Reconstructed> PageStore::read(const PageId& page, wal::Lsn lsn) const {
  wal::Lsn h = horizon();
  if (lsn < h) {
    return base::Unexpected{base::ErrorCode::kRefused,
                            fmt::format("LSN {} is below the retention horizon {}", lsn, h)};
  }
  leveldb::ReadOptions ro;
  ro.snapshot = db_->GetSnapshot();
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  std::optional<StoredVersion> base;
  const std::string base_prefix = page_prefix(KeyKind::kBase, page);
  // The newest base <= lsn: one seek, and one step back unless it landed exactly on lsn.
  const std::string at = version_key(KeyKind::kBase, page, lsn);
  it->Seek(at);
  if (!it->Valid()) {
    it->SeekToLast();
  } else if (view(it->key()) != at) {
    it->Prev();
  }
  base::Status bad = base::Ok{};
  if (it->Valid() && view(it->key()).starts_with(base_prefix)) {
    auto key = decode_version_key(view(it->key()));
    auto v = decode_version(view(it->value()));
    if (!v) bad = base::Unexpected{v.error()};
    else if (key && key->lsn <= lsn) base = StoredVersion{key->lsn, std::move(*v)};
  }
  std::vector<StoredVersion> deltas;
  if (bad) {
    const std::string delta_prefix = page_prefix(KeyKind::kDelta, page);
    for (it->Seek(version_key(KeyKind::kDelta, page, base ? base->lsn + 1 : wal::Lsn(0)));
         it->Valid() && view(it->key()).starts_with(delta_prefix); it->Next()) {
      auto key = decode_version_key(view(it->key()));
      if (!key || key->lsn > lsn) break;
      auto v = decode_version(view(it->value()));
      if (!v) {
        bad = base::Unexpected{v.error()};
        break;
      }
      deltas.push_back(StoredVersion{key->lsn, std::move(*v)});
    }
  }
  it.reset();
  db_->ReleaseSnapshot(ro.snapshot);
  if (!bad) return base::Unexpected{bad.error()};
  return reconstruct(page, base, deltas);
}

std::uint32_t PageStore::deltas_since_newest_base(const PageId& page, std::uint32_t limit) const {
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  const std::string base_prefix = page_prefix(KeyKind::kBase, page);
  wal::Lsn from(0);
  it->Seek(version_key(KeyKind::kBase, page, wal::Lsn(~0ull)));
  if (it->Valid() && view(it->key()) != version_key(KeyKind::kBase, page, wal::Lsn(~0ull))) it->Prev();
  if (!it->Valid()) it->SeekToLast();
  if (it->Valid() && view(it->key()).starts_with(base_prefix)) {
    if (auto key = decode_version_key(view(it->key()))) from = key->lsn + 1;
  }
  const std::string delta_prefix = page_prefix(KeyKind::kDelta, page);
  std::uint32_t n = 0;
  for (it->Seek(version_key(KeyKind::kDelta, page, from));
       n < limit && it->Valid() && view(it->key()).starts_with(delta_prefix); it->Next()) {
    ++n;
  }
  return n;
}

std::uint64_t PageStore::compact(wal::Lsn horizon) {
  if (horizon <= this->horizon()) return 0;
  // Reads below the new horizon are refused from now on; persisted with the
  // first deletions (losing it on a crash only re-allows reads that find no base).
  horizon_.store(horizon.value(), std::memory_order_release);
  std::uint64_t deleted = 0;
  leveldb::WriteBatch batch;
  batch.Put(slice(kHorizonKey), encode_lsn_value(horizon));
  std::size_t in_batch = 0;
  auto flush = [&] {
    must(db_->Write(leveldb::WriteOptions(), &batch), "compaction");
    batch.Clear();
    in_batch = 0;
  };
  auto del = [&](const leveldb::Slice& key) {
    batch.Delete(key);
    ++deleted;
    if (++in_batch >= 4096) flush();
  };
  leveldb::ReadOptions ro;
  ro.snapshot = db_->GetSnapshot();
  ro.fill_cache = false;
  std::map<PageId, wal::Lsn> keep_from;  // page -> its newest base <= horizon
  {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
    const std::string start(1, static_cast<char>(KeyKind::kBase));
    std::optional<DecodedKey> prev;
    std::string prev_key;
    for (it->Seek(start); it->Valid(); it->Next()) {
      auto key = decode_version_key(view(it->key()));
      if (!key || key->kind != KeyKind::kBase) break;
      if (key->lsn > horizon) continue;
      // Bases of a page come in LSN order: the previous one of the same page is superseded.
      if (prev && prev->page == key->page) del(prev_key);
      prev = key;
      prev_key = it->key().ToString();
      keep_from[key->page] = key->lsn;
    }
  }
  {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
    const std::string start(1, static_cast<char>(KeyKind::kDelta));
    for (it->Seek(start); it->Valid(); it->Next()) {
      auto key = decode_version_key(view(it->key()));
      if (!key || key->kind != KeyKind::kDelta) break;
      auto found = keep_from.find(key->page);
      if (found != keep_from.end() && key->lsn <= found->second) del(it->key());
    }
  }
  flush();
  db_->ReleaseSnapshot(ro.snapshot);
  return deleted;
}

std::string PageStore::stats() const {
  std::string out;
  db_->GetProperty("leveldb.stats", &out);
  return out;
}

}  // namespace wq::pageserver
