// Integration check (suite 'integration'): WAL made with wal::WalWriter and
// stored through WalStore — starting mid-segment, so the first segment's
// headers are synthesized — is read by PostgreSQL 15's own pg_waldump, from the
// first record and from the segment boundary. Exit 0 pass, 1 fail, 77 skip
// (pg_waldump not installed).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "storage/wal_store.h"
#include "storage_test_util.h"

namespace {

using wq::wal::Lsn;

struct Run {
  int exit_code = -1;
  std::string output;
};

Run run(const std::string& cmd) {
  Run r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::size_t count_lines_with(const std::string& text, const std::string& needle) {
  std::size_t count = 0, pos = 0;
  while ((pos = text.find(needle, pos)) != std::string::npos) {
    ++count;
    pos += needle.size();
  }
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  std::string waldump = argc > 1 ? argv[1] : "/usr/lib/postgresql/15/bin/pg_waldump";
  if (::access(waldump.c_str(), X_OK) != 0) {
    fmt::print("SKIP: {} not found\n", waldump);
    return 77;
  }
  constexpr std::uint64_t kSeg = 1 << 20;
  int failures = 0;
  // A start inside a page (after some record we do not have) and a start at a
  // page boundary inside the segment.
  for (Lsn start : {Lsn(kSeg + 5 * 8192 + 24 + 64), Lsn(kSeg + 2 * 8192)}) {
    wq::storage::testing::TempDir tmp;
    wq::storage::WalStoreOptions opts;
    opts.seg_size = kSeg;
    opts.system_id = 7300000000000000001ull;
    // Enough WAL to complete segment 1 (pg_waldump never reads .partial files).
    auto wal = wq::storage::testing::make_wal(start, kSeg, kSeg + 4096);
    {
      auto store = wq::storage::WalStore::open(tmp.path(), opts);
      if (!store) {
        fmt::print("FAIL: open: {}\n", store.error().message);
        return 1;
      }
      if (auto st = store->truncate(start); !st) {
        fmt::print("FAIL: truncate: {}\n", st.error().message);
        return 1;
      }
      if (auto st = store->write(start, wal.bytes); !st) {
        fmt::print("FAIL: write: {}\n", st.error().message);
        return 1;
      }
      store->sync();
    }
    // Records that end inside segment 1.
    std::size_t expected = 0;
    Lsn last_end;
    for (Lsn e : wal.record_ends) {
      if (e.value() > 2 * kSeg) break;
      ++expected;
      last_end = e;
    }
    Lsn first_record = wal.record_starts.front();
    for (Lsn from : {first_record, Lsn(kSeg)}) {
      std::string cmd = fmt::format("{} -p {} -s {} -e {}", waldump, tmp.path(), from, last_end);
      Run r = run(cmd);
      std::size_t records = count_lines_with(r.output, "rmgr: ");
      bool ok = r.exit_code == 0 && records == expected &&
                r.output.find(fmt::format("lsn: {:X}/{:08X}", first_record.value() >> 32,
                                          first_record.value() & 0xFFFFFFFF)) !=
                    std::string::npos;
      fmt::print("{}: {} (exit {}, {} of {} records)\n", ok ? "PASS" : "FAIL", cmd, r.exit_code,
                 records, expected);
      if (!ok) {
        fmt::print("{}\n", r.output.substr(0, 2000));
        ++failures;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
