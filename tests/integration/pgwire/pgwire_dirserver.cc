// pgwire_dirserver: a test host for pgwire::ReplicationServer that serves a
// directory of WAL segment files (e.g. written by walquorum-walgen) to real
// PostgreSQL clients, with a commit LSN the test controls. It is the
// integration test's stand-in for the safekeeper: the same server and session
// code, a trivial WalSource.
//
//   pgwire_dirserver --dir D --tenant HEX --timeline HEX --commit X/Y --port-file F
//
// Listens on 127.0.0.1:0 (or --listen) and writes the port to F. Reads
// "commit X/Y" lines on stdin to move the commit LSN forward. Logs one line
// per learner feedback to stderr: "event=feedback slot=S write=.. flush=.. apply=..".
// Every read is checked against the commit LSN: a request beyond it ends the
// process (it would be a server bug).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "pgwire/server.h"
#include "wal/format.h"

namespace {

using wq::wal::Lsn;
namespace pgwire = wq::pgwire;

struct Shared {
  std::mutex mu;
  Lsn commit;
  std::uint64_t next_waiter = 0;
  std::map<std::uint64_t, std::function<void()>> waiters;
  std::map<std::string, Lsn> slots;  // last confirmed flush per slot
};

class DirStream : public pgwire::WalStream {
 public:
  DirStream(std::string dir, std::uint32_t tli, std::uint64_t seg_size, Shared& shared)
      : dir_(std::move(dir)), tli_(tli), seg_size_(seg_size), shared_(shared) {}
  ~DirStream() override {
    std::lock_guard lock(shared_.mu);
    if (waiter_) shared_.waiters.erase(*waiter_);
  }

  Lsn commit_lsn() override {
    std::lock_guard lock(shared_.mu);
    return shared_.commit;
  }

  void read(Lsn from, Lsn to, ReadDone done) override {
    Lsn commit = commit_lsn();
    if (to > commit || from >= to) {
      std::fprintf(stderr, "pgwire_dirserver: BUG: read [%s, %s) with commit %s\n",
                   from.to_string().c_str(), to.to_string().c_str(), commit.to_string().c_str());
      std::abort();
    }
    std::uint64_t segno = wq::wal::segno_of(from, seg_size_);
    std::uint64_t off = from.value() % seg_size_;
    std::uint64_t n = std::min<std::uint64_t>(to - from, seg_size_ - off);
    std::string name = wq::wal::segment_file_name(tli_, segno, seg_size_);
    int fd = ::open((dir_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fd = ::open((dir_ + "/" + name + ".partial").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      done(wq::base::Unexpected{wq::base::ErrorCode::kNotFound,
                                fmt::format("segment {} is not in {}", name, dir_)});
      return;
    }
    std::vector<std::uint8_t> buf(n);
    ssize_t got = ::pread(fd, buf.data(), n, static_cast<off_t>(off));
    int err = errno;
    ::close(fd);
    if (got <= 0) {
      done(wq::base::Unexpected{wq::base::ErrorCode::kIo,
                                fmt::format("pread {}: {}", name, got < 0 ? std::strerror(err)
                                                                          : "end of file")});
      return;
    }
    buf.resize(static_cast<std::size_t>(got));
    done(std::move(buf));
  }

  void wait_commit(Lsn after, std::function<void()> done) override {
    std::unique_lock lock(shared_.mu);
    if (shared_.commit > after) {
      lock.unlock();
      done();
      return;
    }
    if (waiter_) shared_.waiters.erase(*waiter_);
    waiter_ = ++shared_.next_waiter;
    shared_.waiters[*waiter_] = std::move(done);
  }

  void on_learner_feedback(const pgwire::LearnerFeedback& f) override {
    std::string slot = f.slot.value_or("");
    if (f.slot && f.flush.is_valid()) {
      std::lock_guard lock(shared_.mu);
      shared_.slots[slot] = f.flush;
    }
    spdlog::info("event=feedback slot={} write={} flush={} apply={}", slot.empty() ? "-" : slot,
                 f.write, f.flush, f.apply);
  }

  void on_hot_standby_feedback(const pgwire::HotStandbyFeedback& h) override {
    spdlog::info("event=hot_standby_feedback xmin={} catalog_xmin={}", h.xmin, h.catalog_xmin);
  }

  std::optional<Lsn> slot_restart_lsn(const std::string& slot) override {
    std::lock_guard lock(shared_.mu);
    auto it = shared_.slots.find(slot);
    if (it == shared_.slots.end()) return std::nullopt;
    return it->second;
  }

  void drop_slot(const std::string& slot) override {
    std::lock_guard lock(shared_.mu);
    shared_.slots.erase(slot);
  }

 private:
  std::string dir_;
  std::uint32_t tli_;
  std::uint64_t seg_size_;
  Shared& shared_;
  std::optional<std::uint64_t> waiter_;
};

class DirSource : public pgwire::WalSource {
 public:
  DirSource(std::string dir, pgwire::TimelineRef ref, pgwire::TimelineInfo info, Shared& shared)
      : dir_(std::move(dir)), ref_(std::move(ref)), info_(std::move(info)), shared_(shared) {}

  wq::base::Result<pgwire::OpenedStream> open(const pgwire::OpenRequest& req) override {
    if (req.ref.tenant_id != ref_.tenant_id || req.ref.timeline_id != ref_.timeline_id) {
      return wq::base::Unexpected{
          wq::base::ErrorCode::kNotFound,
          fmt::format("timeline {}/{} does not exist on this server", req.ref.tenant_id,
                      req.ref.timeline_id)};
    }
    pgwire::OpenedStream out;
    out.info = info_;
    {
      std::lock_guard lock(shared_.mu);
      out.info.commit_lsn = shared_.commit;
    }
    out.stream = std::make_unique<DirStream>(dir_, info_.tli, info_.wal_seg_size, shared_);
    return out;
  }

 private:
  std::string dir_;
  pgwire::TimelineRef ref_;
  pgwire::TimelineInfo info_;
  Shared& shared_;
};

void set_commit(Shared& shared, Lsn lsn) {
  std::map<std::uint64_t, std::function<void()>> ready;
  {
    std::lock_guard lock(shared.mu);
    if (lsn <= shared.commit) return;  // never backwards
    shared.commit = lsn;
    ready.swap(shared.waiters);
  }
  spdlog::info("event=commit lsn={}", lsn);
  for (auto& [id, done] : ready) done();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pgwire_dirserver: serves a directory of WAL segments over the replication protocol"};
  std::string dir;
  std::string tenant;
  std::string timeline;
  std::string commit_text;
  std::string port_file;
  std::string listen = "127.0.0.1:0";
  std::uint32_t keepalive_ms = 10'000;
  app.add_option("--dir", dir, "directory of WAL segment files")->required();
  app.add_option("--tenant", tenant, "tenant id (32 hex digits)")->required();
  app.add_option("--timeline", timeline, "timeline id (32 hex digits)")->required();
  app.add_option("--commit", commit_text, "initial commit LSN X/Y")->required();
  app.add_option("--port-file", port_file, "file to write the listening port to")->required();
  app.add_option("--listen", listen, "HOST:PORT to listen on");
  app.add_option("--keepalive-ms", keepalive_ms, "keepalive interval while streaming");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("%H:%M:%S.%e %l %v");

  auto commit = Lsn::parse(commit_text);
  if (!commit) {
    std::fprintf(stderr, "pgwire_dirserver: --commit: %s\n", commit.error().message.c_str());
    return 2;
  }
  auto at = wq::net::parse_host_port(listen);
  if (!at) {
    std::fprintf(stderr, "pgwire_dirserver: --listen: %s\n", at.error().message.c_str());
    return 2;
  }
  // The oldest segment's long page header gives the system id and segment size.
  std::string first;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() == 24 && (first.empty() || name < first)) first = name;
  }
  if (first.empty()) {
    std::fprintf(stderr, "pgwire_dirserver: no segment files in %s\n", dir.c_str());
    return 2;
  }
  std::uint8_t header[40] = {};
  {
    std::ifstream in(dir + "/" + first, std::ios::binary);
    in.read(reinterpret_cast<char*>(header), sizeof header);
    if (!in) {
      std::fprintf(stderr, "pgwire_dirserver: cannot read the header of %s\n", first.c_str());
      return 2;
    }
  }
  pgwire::TimelineInfo info;
  std::uint32_t seg_size = 0;
  std::memcpy(&info.tli, header + 4, 4);
  std::memcpy(&info.system_id, header + 24, 8);
  std::memcpy(&seg_size, header + 32, 4);
  info.wal_seg_size = seg_size;

  Shared shared;
  shared.commit = *commit;
  auto ref = pgwire::parse_timeline_options(
      fmt::format("-c tenant_id={} -c timeline_id={}", tenant, timeline));
  if (!ref) {
    std::fprintf(stderr, "pgwire_dirserver: %s\n", ref.error().message.c_str());
    return 2;
  }
  DirSource source(dir, *ref, info, shared);

  asio::io_context io;
  pgwire::ServerOptions options;
  options.session.keepalive_interval_us = std::int64_t{keepalive_ms} * 1000;
  options.tick_interval = std::chrono::milliseconds(std::min<std::uint32_t>(keepalive_ms, 1000));
  pgwire::ReplicationServer server(io, source, options);
  if (auto st = server.listen(*at); !st) {
    std::fprintf(stderr, "pgwire_dirserver: %s\n", st.error().message.c_str());
    return 1;
  }
  {
    std::string tmp = port_file + ".tmp";
    std::ofstream out(tmp);
    out << server.port() << "\n";
    out.close();
    std::filesystem::rename(tmp, port_file, ec);
    if (ec) {
      std::fprintf(stderr, "pgwire_dirserver: cannot write %s: %s\n", port_file.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  spdlog::info("event=serving dir={} system_id={} seg_size={} tli={} commit={}", dir,
               info.system_id, info.wal_seg_size, info.tli, *commit);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code&, int) {
    server.stop();
    io.stop();
  });
  // stdin: "commit X/Y" lines. Detached: it may block in read at exit.
  std::thread([&io, &shared] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.rfind("commit ", 0) != 0) {
        spdlog::warn("event=bad_stdin_line line=\"{}\"", line);
        continue;
      }
      auto lsn = Lsn::parse(line.substr(7));
      if (!lsn) {
        spdlog::warn("event=bad_commit error=\"{}\"", lsn.error().message);
        continue;
      }
      asio::post(io, [&shared, l = *lsn] { set_commit(shared, l); });
    }
  }).detach();
  io.run();
  spdlog::info("event=stopped");
  std::fflush(stderr);
  _exit(0);  // the stdin thread may still be blocked in read
}
