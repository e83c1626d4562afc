// ControlStore and its record encoding: round trips, persistence across reopen,
// damaged records as clear kCorrupt errors, the metadata reserve, fatal_io.
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "storage/control_codec.h"
#include "storage/control_store.h"
#include "storage/io.h"
#include "storage/layout.h"
#include "storage_test_util.h"

namespace wq::storage {
namespace {

using testing::TempDir;

core::ControlState sample_state(std::uint8_t seed) {
  core::ControlState s;
  for (std::size_t i = 0; i < 16; ++i) {
    s.timeline.tenant.bytes[i] = static_cast<std::uint8_t>(seed + i);
    s.timeline.timeline.bytes[i] = static_cast<std::uint8_t>(0xA0 + seed + i);
  }
  s.system_id = 7300000000000000000ull + seed;
  s.wal_seg_size = 16 * 1024 * 1024;
  s.pg_version = 150004;
  s.term = core::Term{9};
  s.term_history = core::TermHistory({{core::Term{2}, core::Lsn{0x1000028}},
                                      {core::Term{5}, core::Lsn{0x1234560}},
                                      {core::Term{9}, core::Lsn{0x2000000}}});
  s.timeline_start_lsn = core::Lsn{0x1000028};
  s.commit_lsn = core::Lsn{0x1FFF000};
  s.truncate_lsn = core::Lsn{0x1800000};
  s.corrupt = seed % 2 == 1;
  return s;
}

TEST_CASE("control codec: encode/decode round trip, every field") {
  for (std::uint8_t seed : {0, 1, 200}) {
    core::ControlState s = sample_state(seed);
    auto bytes = encode_control(s);
    auto back = decode_control(bytes, "test");
    REQUIRE(back.has_value());
    CHECK(*back == s);
  }
  core::ControlState empty;  // no history, zero LSNs
  auto back = decode_control(encode_control(empty), "empty");
  REQUIRE(back.has_value());
  CHECK(*back == empty);
}

TEST_CASE("control codec: every truncation and every flipped byte is an error, never a crash") {
  auto bytes = encode_control(sample_state(3));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode_control(std::span<const std::uint8_t>(bytes.data(), n), "cut");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == base::ErrorCode::kCorrupt);
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= 0x40;
    auto r = decode_control(copy, "flip");
    REQUIRE_FALSE(r.has_value());
    // A flipped version byte is reported as an unknown version; all else as corrupt.
    CHECK((r.error().code == base::ErrorCode::kCorrupt ||
           r.error().code == base::ErrorCode::kUnsupported));
  }
}

TEST_CASE("control codec: a CRC-valid record with an impossible term history is corrupt") {
  core::ControlState s = sample_state(0);
  auto bytes = encode_control(s);
  // Swap the first two history terms (2 and 5 → 5 and 2) and re-seal the CRC.
  std::size_t hist = 12 + 16 + 16 + 8 + 4 + 4 + 8 + 4;
  bytes[hist] = 5;
  bytes[hist + 16] = 2;
  std::size_t crc_pos = bytes.size() - 4;
  std::uint32_t crc = crc32c(std::span<const std::uint8_t>(bytes.data(), crc_pos));
  for (int i = 0; i < 4; ++i) bytes[crc_pos + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  auto r = decode_control(bytes, "timeline/x");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == base::ErrorCode::kCorrupt);
  CHECK(r.error().message.find("term history") != std::string::npos);
}

TEST_CASE("control codec: crc32c check value") {
  const char* text = "123456789";
  CHECK(crc32c(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text), 9)) ==
        0xE3069283u);
}

TEST_CASE("layout: timeline directory and control key use lower-case hex ids") {
  core::ControlState s = sample_state(0x10);
  std::string tenant = s.timeline.tenant.to_hex();
  std::string timeline = s.timeline.timeline.to_hex();
  CHECK(timeline_dir("/data", s.timeline) == "/data/timelines/" + tenant + "/" + timeline);
  CHECK(ControlStore::key_of(s.timeline) == "timeline/" + tenant + "/" + timeline);
  CHECK(tenant == "101112131415161718191a1b1c1d1e1f");
}

TEST_CASE("control store: put, get, overwrite, list, reopen") {
  TempDir tmp;
  core::ControlState a = sample_state(1);
  core::ControlState b = sample_state(2);
  {
    auto store = ControlStore::open(tmp.path(), {.reserve_bytes = 1 << 20});
    REQUIRE(store.has_value());
    auto missing = store->get(a.timeline);
    REQUIRE(missing.has_value());
    CHECK_FALSE(missing->has_value());
    store->put(a);
    store->put(b);
    a.term = core::Term{10};
    a.term_history.push(core::Term{10}, core::Lsn{0x3000000});
    store->put(a);  // overwrites
    auto got = store->get(a.timeline);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK(**got == a);
  }
  auto store = ControlStore::open(tmp.path(), {.reserve_bytes = 1 << 20});
  REQUIRE(store.has_value());
  auto all = store->list();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0] == a);  // key order: tenant 01.. before 02..
  CHECK((*all)[1] == b);
  store->remove(b.timeline);
  auto after = store->list();
  REQUIRE(after.has_value());
  CHECK(after->size() == 1);
}

TEST_CASE("control store: a damaged record is a kCorrupt error naming the key") {
  TempDir tmp;
  auto store = ControlStore::open(tmp.path(), {.reserve_bytes = 0});
  REQUIRE(store.has_value());
  core::ControlState s = sample_state(4);
  std::string key = ControlStore::key_of(s.timeline);
  auto bytes = encode_control(s);
  bytes[20] ^= 1;
  store->put_raw_for_test(key, std::string(bytes.begin(), bytes.end()));
  auto got = store->get(s.timeline);
  REQUIRE_FALSE(got.has_value());
  CHECK(got.error().code == base::ErrorCode::kCorrupt);
  CHECK(got.error().message.find(key) != std::string::npos);
  auto all = store->list();
  REQUIRE_FALSE(all.has_value());
  CHECK(all.error().message.find(key) != std::string::npos);

  // The other timelines stay readable one by one.
  core::ControlState fine = sample_state(6);
  store->put(fine);
  auto keys = store->list_timelines();
  REQUIRE(keys.has_value());
  REQUIRE(keys->size() == 2);
  std::size_t readable = 0;
  for (const auto& k : *keys) {
    auto one = store->get(k);
    if (one.has_value() && one->has_value()) ++readable;
  }
  CHECK(readable == 1);

  store->put_raw_for_test(key, "garbage");
  got = store->get(s.timeline);
  REQUIRE_FALSE(got.has_value());
  CHECK(got.error().code == base::ErrorCode::kCorrupt);

  // A key that is not a timeline key is reported, not skipped.
  store->put_raw_for_test("timeline/zz", "x");
  auto bad_keys = store->list_timelines();
  REQUIRE_FALSE(bad_keys.has_value());
  CHECK(bad_keys.error().message.find("timeline/zz") != std::string::npos);

  // A valid record stored under another timeline's key is corrupt too.
  core::ControlState other = sample_state(5);
  auto good = encode_control(other);
  store->put_raw_for_test(key, std::string(good.begin(), good.end()));
  got = store->get(s.timeline);
  REQUIRE_FALSE(got.has_value());
  CHECK(got.error().code == base::ErrorCode::kCorrupt);
}

TEST_CASE("control store: the metadata reserve file exists and is re-created") {
  TempDir tmp;
  auto store = ControlStore::open(tmp.path(), {.reserve_bytes = 1 << 20});
  REQUIRE(store.has_value());
  CHECK(store->reserve_present());
  CHECK(testing::file_size(tmp.sub("meta.reserve")) == (1u << 20));
  ::unlink(tmp.sub("meta.reserve").c_str());
  CHECK(store->ensure_reserve());
  CHECK(testing::file_size(tmp.sub("meta.reserve")) == (1u << 20));
}

TEST_CASE("fatal_io ends the process with one line and exit code 70") {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(pipefd[1], STDERR_FILENO);
    fatal_io("fdatasync", "/data/x.partial", EIO);
  }
  ::close(pipefd[1]);
  char buf[512] = {};
  ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == kFatalIoExitCode);
  REQUIRE(n > 0);
  std::string line(buf, static_cast<std::size_t>(n));
  CHECK(line.find("FATAL I/O: fdatasync /data/x.partial") == 0);
  CHECK(line.find("errno 5") != std::string::npos);
}

}  // namespace
}  // namespace wq::storage
