// LevelDB-backed control store. See control_store.h.
#include "storage/control_store.h"

#include <cerrno>
#include <cstdio>
#include <sys/stat.h>

#include <fmt/format.h>
#include <leveldb/db.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include "storage/control_codec.h"
#include "storage/io.h"

namespace wq::storage {

namespace {

constexpr std::string_view kKeyPrefix = "timeline/";

int errno_of(const leveldb::Status& s) {
  // LevelDB's POSIX env puts strerror() text into the status message.
  std::string text = s.ToString();
  if (text.find("No space left") != std::string::npos) return ENOSPC;
  return EIO;
}

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string ControlStore::key_of(const core::TimelineKey& key) {
  return fmt::format("{}{}/{}", kKeyPrefix, key.tenant.to_hex(), key.timeline.to_hex());
}

ControlStore::ControlStore(std::unique_ptr<leveldb::DB> db, std::string data_dir,
                           Options options)
    : db_(std::move(db)),
      data_dir_(std::move(data_dir)),
      meta_dir_(data_dir_ + "/meta"),
      reserve_path_(data_dir_ + "/meta.reserve"),
      options_(options) {}

ControlStore::ControlStore(ControlStore&&) noexcept = default;
ControlStore& ControlStore::operator=(ControlStore&&) noexcept = default;
ControlStore::~ControlStore() = default;

base::Result<ControlStore> ControlStore::open(const std::string& data_dir, Options options) {
  if (auto st = make_dirs(data_dir); !st) return Unexpected{st.error()};
  leveldb::Options lo;
  lo.create_if_missing = true;
  lo.paranoid_checks = true;
  leveldb::DB* raw = nullptr;
  std::string meta = data_dir + "/meta";
  leveldb::Status s = leveldb::DB::Open(lo, meta, &raw);
  if (!s.ok()) {
    ErrorCode code = s.IsCorruption()            ? ErrorCode::kCorrupt
                     : errno_of(s) == ENOSPC ? ErrorCode::kNoSpace
                                             : ErrorCode::kIo;
    return Unexpected{code, fmt::format("cannot open control store {}: {}", meta, s.ToString())};
  }
  fsync_dir_or_die(data_dir);  // the new meta directory itself must survive a crash
  ControlStore store(std::unique_ptr<leveldb::DB>(raw), data_dir, options);
  store.ensure_reserve();
  return store;
}

bool ControlStore::ensure_reserve() {
  if (options_.reserve_bytes == 0) return reserve_present_ = false;
  struct stat st {};
  if (::stat(reserve_path_.c_str(), &st) == 0) {
    if (static_cast<std::uint64_t>(st.st_size) == options_.reserve_bytes) {
      return reserve_present_ = true;
    }
    unlink_or_die(reserve_path_);  // a leftover of a crash mid-creation
  }
  Status created = create_preallocated(reserve_path_, options_.reserve_bytes, /*zero_fill=*/true);
  if (!created) {
    std::fprintf(stderr, "control store: no metadata reserve at %s: %s\n", reserve_path_.c_str(),
                 created.error().message.c_str());
    return reserve_present_ = false;
  }
  return reserve_present_ = true;
}

void ControlStore::release_reserve_if_low() {
  if (!reserve_present_) return;
  auto free = free_bytes(data_dir_);
  if (free && *free >= options_.reserve_bytes) return;
  // The disk is (nearly) full: give the reserved space to this metadata write.
  unlink_or_die(reserve_path_);
  fsync_dir_or_die(data_dir_);
  reserve_present_ = false;
  std::fprintf(stderr,
               "control store: disk nearly full (%llu bytes free); released the %llu-byte "
               "metadata reserve %s\n",
               static_cast<unsigned long long>(free ? *free : 0),
               static_cast<unsigned long long>(options_.reserve_bytes), reserve_path_.c_str());
}

void ControlStore::put(const core::ControlState& state) {
  release_reserve_if_low();
  std::vector<std::uint8_t> bytes = encode_control(state);
  std::string key = key_of(state.timeline);
  leveldb::WriteOptions wo;
  wo.sync = true;  // the vote (term) must never be forgotten after we reply
  leveldb::Status s =
      db_->Put(wo, key, leveldb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!s.ok()) fatal_io(fmt::format("control store write ({})", s.ToString()), key, errno_of(s));
}

void ControlStore::remove(const core::TimelineKey& key) {
  std::string k = key_of(key);
  leveldb::WriteOptions wo;
  wo.sync = true;
  leveldb::Status s = db_->Delete(wo, k);
  if (!s.ok()) fatal_io(fmt::format("control store delete ({})", s.ToString()), k, errno_of(s));
}

std::string ControlStore::learners_key_of(const core::TimelineKey& key) {
  return fmt::format("learners/{}/{}", key.tenant.to_hex(), key.timeline.to_hex());
}

void ControlStore::put_learners(const core::TimelineKey& key, const std::string& text) {
  release_reserve_if_low();
  std::string k = learners_key_of(key);
  leveldb::WriteOptions wo;
  wo.sync = true;  // WAL below a persisted learner position may be removed after this
  leveldb::Status s = db_->Put(wo, k, text);
  if (!s.ok()) fatal_io(fmt::format("control store write ({})", s.ToString()), k, errno_of(s));
}

base::Result<std::string> ControlStore::get_learners(const core::TimelineKey& key) const {
  std::string k = learners_key_of(key);
  std::string value;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  leveldb::Status s = db_->Get(ro, k, &value);
  if (s.IsNotFound()) return std::string{};
  if (!s.ok()) {
    return Unexpected{ErrorCode::kIo, fmt::format("control store read {} ({})", k, s.ToString())};
  }
  return value;
}

void ControlStore::put_raw_for_test(const std::string& key, const std::string& value) {
  leveldb::WriteOptions wo;
  wo.sync = true;
  leveldb::Status s = db_->Put(wo, key, value);
  if (!s.ok()) fatal_io(fmt::format("control store write ({})", s.ToString()), key, errno_of(s));
}

base::Result<std::optional<core::ControlState>> ControlStore::get(
    const core::TimelineKey& key) const {
  std::string k = key_of(key);
  std::string value;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  leveldb::Status s = db_->Get(ro, k, &value);
  if (s.IsNotFound()) return std::optional<core::ControlState>{};
  if (!s.ok()) {
    return Unexpected{s.IsCorruption() ? ErrorCode::kCorrupt : ErrorCode::kIo,
                      fmt::format("cannot read control record {}: {}", k, s.ToString())};
  }
  auto state = decode_control(as_bytes(value), k);
  if (!state) return Unexpected{state.error()};
  if (state->timeline != key) {
    return Unexpected{ErrorCode::kCorrupt,
                      fmt::format("control record {} holds timeline {}", k,
                                  state->timeline.to_string())};
  }
  return std::optional<core::ControlState>(std::move(*state));
}

base::Result<std::vector<core::TimelineKey>> ControlStore::list_timelines() const {
  std::vector<core::TimelineKey> out;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  const leveldb::Slice prefix(kKeyPrefix.data(), kKeyPrefix.size());
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string k = it->key().ToString();
    std::string_view rest = std::string_view(k).substr(kKeyPrefix.size());
    auto slash = rest.find('/');
    auto bad = [&] {
      return Unexpected{ErrorCode::kCorrupt,
                        fmt::format("control store key {} is not timeline/<32 hex>/<32 hex>", k)};
    };
    if (slash == std::string_view::npos) return bad();
    auto tenant = core::Id128::parse_hex(rest.substr(0, slash));
    auto timeline = core::Id128::parse_hex(rest.substr(slash + 1));
    if (!tenant || !timeline) return bad();
    out.push_back(core::TimelineKey{*tenant, *timeline});
  }
  if (!it->status().ok()) {
    const leveldb::Status& s = it->status();
    return Unexpected{s.IsCorruption() ? ErrorCode::kCorrupt : ErrorCode::kIo,
                      fmt::format("cannot list control records: {}", s.ToString())};
  }
  return out;
}

base::Result<std::vector<core::ControlState>> ControlStore::list() const {
  std::vector<core::ControlState> out;
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(leveldb::Slice(kKeyPrefix.data(), kKeyPrefix.size()));
       it->Valid() && it->key().starts_with(leveldb::Slice(kKeyPrefix.data(), kKeyPrefix.size()));
       it->Next()) {
    std::string k = it->key().ToString();
    std::string v = it->value().ToString();
    auto state = decode_control(as_bytes(v), k);
    if (!state) return Unexpected{state.error()};
    if (key_of(state->timeline) != k) {
      return Unexpected{ErrorCode::kCorrupt,
                        fmt::format("control record {} holds timeline {}", k,
                                    state->timeline.to_string())};
    }
    out.push_back(std::move(*state));
  }
  if (!it->status().ok()) {
    const leveldb::Status& s = it->status();
    return Unexpected{s.IsCorruption() ? ErrorCode::kCorrupt : ErrorCode::kIo,
                      fmt::format("cannot list control records: {}", s.ToString())};
  }
  return out;
}

}  // namespace wq::storage
