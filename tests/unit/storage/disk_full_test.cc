// Disk full on a real (tiny tmpfs) filesystem: appends are refused with
// kNoSpace, reads keep working, the control store still persists through its
// reserve, and appends resume once WAL removal frees space. Needs permission to
// mount; skipped with a message otherwise.
#include <sys/mount.h>

#include <doctest/doctest.h>

#include "storage/control_store.h"
#include "storage/wal_store.h"
#include "storage_test_util.h"

namespace wq::storage {
namespace {

using wal::Lsn;

class TinyFs {
 public:
  explicit TinyFs(const std::string& dir, const char* size) : dir_(dir) {
    std::string opts = std::string("size=") + size;
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~TinyFs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

TEST_CASE("disk full: appends refused with kNoSpace, reads and control writes keep working") {
  testing::TempDir tmp;
  TinyFs fs(tmp.path(), "4m");
  if (!fs.mounted()) {
    MESSAGE("skipped: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
    return;
  }
  constexpr std::uint64_t kSeg = 1 << 20;
  auto control = ControlStore::open(tmp.path(), {.reserve_bytes = 512 * 1024});
  REQUIRE(control.has_value());
  REQUIRE(control->reserve_present());

  WalStoreOptions o;
  o.seg_size = kSeg;
  o.keep_free_bytes = 0;  // the WAL may fill the disk to the last block here
  auto store = WalStore::open(tmp.sub("wal"), o);
  REQUIRE(store.has_value());
  std::vector<std::uint8_t> chunk(64 * 1024, 0x77);
  Lsn pos(kSeg);
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {  // at most 12.5 MiB on a 4 MiB disk
    auto st = store->write(pos, chunk);
    if (!st) {
      CHECK(st.error().code == base::ErrorCode::kNoSpace);
      CHECK(st.error().message.find("no space") != std::string::npos);
      refused = true;
      break;
    }
    pos += chunk.size();
    store->sync();
  }
  REQUIRE(refused);
  CHECK(store->write_lsn() == pos);  // the refused append left the end unchanged
  CHECK(store->flush_lsn() == pos);

  // Reads still work.
  std::vector<std::uint8_t> back(chunk.size());
  auto n = store->read(pos - chunk.size(), back);
  REQUIRE(n.has_value());
  CHECK(back == chunk);

  // The vote can still be persisted: the reserve makes room.
  core::ControlState s;
  s.timeline.tenant.bytes[0] = 1;
  s.term = core::Term{3};
  control->put(s);
  CHECK_FALSE(control->reserve_present());
  auto got = control->get(s.timeline);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->term == core::Term{3});

  // WAL removal frees space; appends resume and the reserve comes back.
  REQUIRE(store->remove_segments_below(pos).has_value());
  auto st = store->write(pos, chunk);
  CHECK(st.has_value());
  store->sync();
  CHECK(control->ensure_reserve());
}

TEST_CASE("disk full: the WAL leaves keep_free_bytes for metadata, also after the reserve is released") {
  testing::TempDir tmp;
  TinyFs fs(tmp.path(), "6m");
  if (!fs.mounted()) {
    MESSAGE("skipped: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
    return;
  }
  constexpr std::uint64_t kSeg = 1 << 20;
  constexpr std::uint64_t kKeep = 1024 * 1024;
  auto control = ControlStore::open(tmp.path(), {.reserve_bytes = 1536 * 1024});
  REQUIRE(control.has_value());
  REQUIRE(control->reserve_present());
  WalStoreOptions o;
  o.seg_size = kSeg;
  o.alloc_chunk_bytes = 64 * 1024;
  o.keep_free_bytes = kKeep;
  auto store = WalStore::open(tmp.sub("wal"), o);
  REQUIRE(store.has_value());
  std::vector<std::uint8_t> chunk(32 * 1024, 0x55);
  Lsn pos(kSeg);
  auto fill = [&]() {
    for (int i = 0; i < 400; ++i) {  // at most 12.5 MiB on a 6 MiB disk
      auto st = store->write(pos, chunk);
      if (!st) {
        CHECK(st.error().code == base::ErrorCode::kNoSpace);
        CHECK(st.error().message.find("kept for metadata") != std::string::npos);
        return true;
      }
      pos += chunk.size();
      store->sync();
    }
    return false;
  };
  REQUIRE(fill());
  auto free1 = free_bytes(tmp.path());
  REQUIRE(free1.has_value());
  CHECK(*free1 >= kKeep);
  core::ControlState s;
  s.timeline.tenant.bytes[0] = 2;
  s.term = core::Term{5};
  control->put(s);  // releases the reserve: the disk has less than 1.5 MiB free
  CHECK_FALSE(control->reserve_present());
  // The WAL takes the released space, but again not the last kKeep bytes...
  Lsn before = pos;
  REQUIRE(fill());
  CHECK(pos > before);
  auto free2 = free_bytes(tmp.path());
  REQUIRE(free2.has_value());
  CHECK(*free2 >= kKeep);
  // ...so control writes still find room (a failure here would end the process).
  for (int i = 0; i < 50; ++i) {
    s.term = core::Term{static_cast<std::uint64_t>(6 + i)};
    control->put(s);
  }
  auto got = control->get(s.timeline);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->term == core::Term{55});
}

}  // namespace
}  // namespace wq::storage
