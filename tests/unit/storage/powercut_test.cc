// The power-cut fault mode (WQ_STORAGE_FAULT=powercut, storage/fault.h): WAL
// writes are held in memory until their file is synced, so a power cut (here:
// drop_unsynced_writes(), or a child process killed with SIGKILL) loses exactly
// the unsynced writes; synced bytes stay. Each case switches the mode on and
// off again (Scope), so the other storage tests run without it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <doctest/doctest.h>

#include "storage/fault.h"
#include "storage/io.h"
#include "storage/wal_store.h"
#include "storage_test_util.h"

namespace wq::storage {
namespace {

using testing::make_wal;
using testing::read_file_bytes;
using testing::TempDir;
using wal::Lsn;

constexpr std::uint64_t kSeg = 1 << 20;

WalStoreOptions opts() {
  WalStoreOptions o;
  o.seg_size = kSeg;
  o.system_id = 7300000000000000001ull;
  return o;
}

std::string seg_path(const TempDir& tmp, std::uint64_t segno, bool partial) {
  return tmp.sub(wal::segment_file_name(1, segno, kSeg) + (partial ? ".partial" : ""));
}

bool all_zero(const std::vector<std::uint8_t>& v, std::size_t from, std::size_t to) {
  to = std::min(to, v.size());
  return from >= to || std::all_of(v.begin() + static_cast<std::ptrdiff_t>(from),
                                   v.begin() + static_cast<std::ptrdiff_t>(to),
                                   [](std::uint8_t b) { return b == 0; });
}

struct Scope {
  Scope() { set_fault_mode_for_tests(FaultMode::kPowerCut); }
  ~Scope() {
    drop_unsynced_writes();
    set_fault_mode_for_tests(FaultMode::kNone);
  }
};

// Bytes [from, to) of the WAL as stored in the segment files on disk.
std::vector<std::uint8_t> on_disk(const TempDir& tmp, Lsn from, Lsn to) {
  std::vector<std::uint8_t> out;
  for (Lsn pos = from; pos < to;) {
    std::uint64_t segno = pos.value() / kSeg;
    auto file = read_file_bytes(seg_path(tmp, segno, true));
    if (file.empty()) file = read_file_bytes(seg_path(tmp, segno, false));
    file.resize(kSeg);
    std::uint64_t end = std::min<std::uint64_t>(to.value(), (segno + 1) * kSeg);
    out.insert(out.end(), file.begin() + static_cast<std::ptrdiff_t>(pos.value() % kSeg),
               file.begin() + static_cast<std::ptrdiff_t>(end - segno * kSeg));
    pos = Lsn(end);
  }
  return out;
}

TEST_CASE("powercut: unsynced WAL is absent after a power cut, synced WAL is present") {
  Scope scope;
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 2 * kSeg + 20000);
  // Synced: the first third (a record boundary). Unsynced: the rest, which
  // crosses into the next segments.
  std::size_t cut_i = wal.record_ends.size() / 3;
  Lsn synced_end = wal.record_ends[cut_i];
  std::span<const std::uint8_t> all(wal.bytes);
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, all.subspan(0, synced_end - wal.start)).has_value());
    store->sync();
    CHECK(unsynced_bytes() == 0);
    REQUIRE(store->write(synced_end, all.subspan(synced_end - wal.start)).has_value());
    CHECK(unsynced_bytes() >= wal.end - synced_end);
    // The process reads its own writes...
    std::vector<std::uint8_t> back(wal.bytes.size());
    auto n = store->read(wal.start, back);
    REQUIRE(n.has_value());
    CHECK(*n == wal.bytes.size());
    CHECK(back == wal.bytes);
    // ...but they are not in the files: the second segment is not even renamed
    // complete, and its bytes on disk are zeros.
    CHECK(testing::exists(seg_path(tmp, 1, true)));
    CHECK_FALSE(testing::exists(seg_path(tmp, 1, false)));
    auto disk = on_disk(tmp, wal.start, wal.end);
    CHECK(std::equal(disk.begin(), disk.begin() + static_cast<std::ptrdiff_t>(synced_end - wal.start),
                     wal.bytes.begin()));
    CHECK(all_zero(disk, synced_end - wal.start, disk.size()));
    CHECK(drop_unsynced_writes() >= wal.end - synced_end);  // the power cut
  }
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(synced_end);
  REQUIRE(scan.has_value());
  CHECK(scan->end == synced_end);
  store->cut_torn_tail();
  std::vector<std::uint8_t> back(synced_end - wal.start);
  auto n = store->read(wal.start, back);
  REQUIRE(n.has_value());
  CHECK(std::equal(back.begin(), back.end(), wal.bytes.begin()));
  // The WAL continues from there, and a sync now makes it durable.
  REQUIRE(store->write(synced_end, all.subspan(synced_end - wal.start)).has_value());
  store->sync();
  CHECK(unsynced_bytes() == 0);
  CHECK(on_disk(tmp, wal.start, wal.end) == wal.bytes);
  CHECK(testing::exists(seg_path(tmp, 1, false)));  // complete and durable: renamed
}

TEST_CASE("powercut: a process killed with SIGKILL loses exactly its unsynced writes") {
  Scope scope;
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, kSeg + 50000);
  Lsn synced_end = wal.record_ends[wal.record_ends.size() / 2];
  std::span<const std::uint8_t> all(wal.bytes);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto store = WalStore::open(tmp.path(), opts());
    if (!store) ::_exit(3);
    if (!store->write(wal.start, all.subspan(0, synced_end - wal.start))) ::_exit(4);
    store->sync();
    if (!store->write(synced_end, all.subspan(synced_end - wal.start))) ::_exit(5);
    ::raise(SIGKILL);
    ::_exit(6);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  auto disk = on_disk(tmp, wal.start, wal.end);
  CHECK(std::equal(disk.begin(), disk.begin() + static_cast<std::ptrdiff_t>(synced_end - wal.start),
                   wal.bytes.begin()));
  CHECK(all_zero(disk, synced_end - wal.start, disk.size()));
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(synced_end);
  REQUIRE(scan.has_value());
  CHECK(scan->end == synced_end);
}

TEST_CASE("powercut: truncation syncs what lies below the cut and drops nothing above it later") {
  Scope scope;
  TempDir tmp;
  auto wal = make_wal(Lsn(kSeg), kSeg, 300000);
  Lsn at = wal.record_ends[wal.record_ends.size() / 2];
  {
    auto store = WalStore::open(tmp.path(), opts());
    REQUIRE(store.has_value());
    REQUIRE(store->write(wal.start, wal.bytes).has_value());  // nothing synced
    REQUIRE(store->truncate(at).has_value());                 // durable on return
    CHECK(unsynced_bytes() == 0);
    drop_unsynced_writes();
  }
  auto disk = on_disk(tmp, wal.start, wal.end);
  CHECK(std::equal(disk.begin(), disk.begin() + static_cast<std::ptrdiff_t>(at - wal.start),
                   wal.bytes.begin()));
  CHECK(all_zero(disk, at - wal.start, disk.size()));
  auto store = WalStore::open(tmp.path(), opts());
  REQUIRE(store.has_value());
  auto scan = store->find_end_of_wal(at);
  REQUIRE(scan.has_value());
  CHECK(scan->end == at);
}

TEST_CASE("powercut: io layer — rename, zeros, holes and unlink around held writes") {
  Scope scope;
  TempDir tmp;
  std::string a = tmp.sub("a"), b = tmp.sub("b");
  REQUIRE(create_sparse(a, 65536).has_value());
  auto fd = open_file(a, O_RDWR);
  REQUIRE(fd.has_value());
  std::vector<std::uint8_t> ones(8192, 0x11);
  REQUIRE(write_all_or_die(fd->get(), 0, ones, a).has_value());
  REQUIRE(write_all_or_die(fd->get(), 20000, ones, a).has_value());
  CHECK(unsynced_bytes() == 2 * ones.size());
  // A rename exposes nothing: the bytes are not in the file under either name.
  rename_or_die(a, b);
  auto file = read_file_bytes(b);
  CHECK(all_zero(file, 0, file.size()));
  // Through read_full (this process) they are there, also via another descriptor.
  {
    auto rfd = open_file(b, O_RDONLY);
    REQUIRE(rfd.has_value());
    std::vector<std::uint8_t> got(8192);
    auto n = read_full(rfd->get(), 0, got, b);
    REQUIRE(n.has_value());
    CHECK(got == ones);
  }
  // Zeros written over part of a held write replace it (also after the sync).
  REQUIRE(write_zeros_or_die(fd->get(), 4096, 8192, b).has_value());
  // A punched hole does the same for the second held write.
  REQUIRE(punch_hole(fd->get(), 24576, 4096, b));
  CHECK(unsynced_bytes() == 4096 + (24576 - 20000));
  fdatasync_or_die(fd->get(), b);
  CHECK(unsynced_bytes() == 0);
  file = read_file_bytes(b);
  REQUIRE(file.size() == 65536);
  CHECK(std::all_of(file.begin(), file.begin() + 4096, [](std::uint8_t x) { return x == 0x11; }));
  CHECK(all_zero(file, 4096, 20000));
  CHECK(std::all_of(file.begin() + 20000, file.begin() + 24576, [](std::uint8_t x) { return x == 0x11; }));
  CHECK(all_zero(file, 24576, file.size()));
  // Held writes of an unlinked file are forgotten with it.
  REQUIRE(write_all_or_die(fd->get(), 0, ones, b).has_value());
  CHECK(unsynced_bytes() == ones.size());
  unlink_or_die(b);
  CHECK(unsynced_bytes() == 0);
}

TEST_CASE("powercut: a failed sync loses its writes (the file keeps its old bytes) and exits 70") {
  Scope scope;
  TempDir tmp;
  std::string a = tmp.sub("seg");
  REQUIRE(create_sparse(a, 65536).has_value());
  std::vector<std::uint8_t> old_bytes(4096, 0x22), new_bytes(12288, 0x33);
  {
    auto fd = open_file(a, O_RDWR);
    REQUIRE(fd.has_value());
    REQUIRE(write_all_or_die(fd->get(), 0, old_bytes, a).has_value());
    fdatasync_or_die(fd->get(), a);  // durable: 0x22 x 4096
  }
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto fd = open_file(a, O_RDWR);
    if (!fd) ::_exit(3);
    // Over the durable bytes and past them, held.
    if (!write_all_or_die(fd->get(), 0, new_bytes, a)) ::_exit(4);
    // fdatasync on an O_PATH descriptor of the same inode fails (EBADF): the
    // held writes are applied, the sync fails, the old bytes are put back.
    int opath = ::open(a.c_str(), O_PATH | O_CLOEXEC);
    if (opath < 0) ::_exit(5);
    fdatasync_or_die(opath, a);
    ::_exit(6);  // not reached: fatal_io ends the process
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == kFatalIoExitCode);
  auto file = read_file_bytes(a);
  REQUIRE(file.size() == 65536);
  CHECK(std::all_of(file.begin(), file.begin() + 4096, [](std::uint8_t x) { return x == 0x22; }));
  CHECK(all_zero(file, 4096, file.size()));
}

TEST_CASE("powercut: the mode is off by default and says nothing") {
  // The test binary runs without WQ_STORAGE_FAULT (meson sets no environment).
  CHECK(fault_mode() == FaultMode::kNone);
  CHECK(fault_mode_banner().empty());
  CHECK(fault_mode_error().empty());
  Scope scope;
  CHECK(fault_mode_banner().find("powercut") != std::string::npos);
}

}  // namespace
}  // namespace wq::storage
