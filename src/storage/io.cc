// POSIX file helpers. See io.h.
#include "storage/io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "storage/fault.h"

namespace wq::storage {

namespace {

constexpr std::size_t kZeroChunk = 1 << 20;

const std::uint8_t* zero_chunk() {
  static const std::array<std::uint8_t, kZeroChunk> zeros{};
  return zeros.data();
}

bool is_no_space(int err) { return err == ENOSPC || err == EDQUOT; }

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// ---------------------------------------------------------------- fault mode

struct FaultState {
  FaultMode mode = FaultMode::kNone;
  std::string error;
};

FaultState parse_fault_env() {
  FaultState st;
  const char* v = std::getenv("WQ_STORAGE_FAULT");
  std::string_view value = v ? v : "";
  if (value.empty() || value == "off") return st;
  if (value == "powercut") {
    st.mode = FaultMode::kPowerCut;
    return st;
  }
  st.error = fmt::format("WQ_STORAGE_FAULT={} is not a storage fault mode (expected powercut or off)",
                         value);
  return st;
}

FaultState g_fault = parse_fault_env();

inline bool powercut() { return g_fault.mode == FaultMode::kPowerCut; }

// Writes held apart in the power-cut mode, per inode (a segment is renamed and
// read through other descriptors; the inode is what a sync makes durable).
struct InodeKey {
  dev_t dev;
  ino_t ino;
  auto operator<=>(const InodeKey&) const = default;
};

struct HeldWrite {
  std::uint64_t offset;
  std::vector<std::uint8_t> bytes;
  std::uint64_t end() const { return offset + bytes.size(); }
};

struct HeldFile {
  Fd fd;                          // a writable duplicate: applies the writes at sync
  std::vector<HeldWrite> writes;  // in the order they were made (later wins)
};

std::mutex g_held_mu;
std::map<InodeKey, HeldFile> g_held;  // guarded by g_held_mu
std::uint64_t g_held_bytes = 0;       // guarded by g_held_mu

InodeKey key_of(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fatal_io("fstat", path, errno);
  return InodeKey{st.st_dev, st.st_ino};
}

void pwrite_all_raw(int fd, std::uint64_t offset, const std::uint8_t* data, std::size_t len,
                    const std::string& path, const char* what) {
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fatal_io(what, path, n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
}

// Drops the parts of held writes inside [from, to): what a real operation on
// that range (zeros, a hole) replaced. Caller holds g_held_mu.
void trim_held_locked(HeldFile& f, std::uint64_t from, std::uint64_t to) {
  std::vector<HeldWrite> kept;
  for (HeldWrite& w : f.writes) {
    if (w.end() <= from || w.offset >= to) {
      kept.push_back(std::move(w));
      continue;
    }
    g_held_bytes -= w.bytes.size();
    auto piece = [&](std::uint64_t a, std::uint64_t b) {
      HeldWrite p{a, std::vector<std::uint8_t>(
                         w.bytes.begin() + static_cast<std::ptrdiff_t>(a - w.offset),
                         w.bytes.begin() + static_cast<std::ptrdiff_t>(b - w.offset))};
      g_held_bytes += p.bytes.size();
      kept.push_back(std::move(p));
    };
    if (w.offset < from) piece(w.offset, from);
    if (w.end() > to) piece(to, w.end());
  }
  f.writes = std::move(kept);
}

void forget_range(int fd, std::uint64_t from, std::uint64_t to, const std::string& path) {
  if (from >= to) return;
  InodeKey key = key_of(fd, path);
  std::lock_guard lock(g_held_mu);
  auto it = g_held.find(key);
  if (it == g_held.end()) return;
  trim_held_locked(it->second, from, to);
  if (it->second.writes.empty()) g_held.erase(it);
}

void hold_write(int fd, std::uint64_t offset, std::span<const std::uint8_t> data,
                const std::string& path) {
  if (data.empty()) return;
  InodeKey key = key_of(fd, path);
  std::lock_guard lock(g_held_mu);
  HeldFile& f = g_held[key];
  if (!f.fd.valid()) {
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) fatal_io("dup (power-cut mode) of", path, errno);
    f.fd = Fd(dup);
  }
  if (!f.writes.empty() && f.writes.back().end() == offset) {
    // Sequential appends coalesce: one buffer per run of WAL.
    f.writes.back().bytes.insert(f.writes.back().bytes.end(), data.begin(), data.end());
  } else {
    f.writes.push_back(HeldWrite{offset, std::vector<std::uint8_t>(data.begin(), data.end())});
  }
  g_held_bytes += data.size();
}

// Read-your-writes: copies held bytes over what was read from the file at
// [offset, offset + out.size()); returns the length read, extended over held
// writes past the file's end (the gap reads as zeros, as after a real write).
std::size_t overlay_held(int fd, std::uint64_t offset, std::span<std::uint8_t> out,
                         std::size_t got, const std::string& path) {
  InodeKey key = key_of(fd, path);
  std::lock_guard lock(g_held_mu);
  auto it = g_held.find(key);
  if (it == g_held.end()) return got;
  std::uint64_t end = offset + out.size();
  std::size_t len = got;
  for (const HeldWrite& w : it->second.writes) {
    std::uint64_t a = std::max(w.offset, offset);
    std::uint64_t b = std::min(w.end(), end);
    if (a >= b) continue;
    if (b - offset > len) {
      std::fill(out.begin() + static_cast<std::ptrdiff_t>(len),
                out.begin() + static_cast<std::ptrdiff_t>(b - offset), std::uint8_t{0});
      len = static_cast<std::size_t>(b - offset);
    }
    std::copy(w.bytes.begin() + static_cast<std::ptrdiff_t>(a - w.offset),
              w.bytes.begin() + static_cast<std::ptrdiff_t>(b - w.offset),
              out.begin() + static_cast<std::ptrdiff_t>(a - offset));
  }
  return len;
}

// The power-cut mode's sync: apply the held writes of fd's inode, then sync for
// real. If the sync fails, the file gets its earlier bytes back (the writes are
// lost, as dirty pages dropped after a writeback error) before fatal_io.
void sync_held(int fd, const std::string& path, bool data_only) {
  const char* what = data_only ? "fdatasync" : "fsync";
  InodeKey key = key_of(fd, path);
  std::lock_guard lock(g_held_mu);
  auto it = g_held.find(key);
  if (it == g_held.end()) {
    if ((data_only ? ::fdatasync(fd) : ::fsync(fd)) != 0) fatal_io(what, path, errno);
    return;
  }
  HeldFile& f = it->second;
  struct stat st {};
  if (::fstat(f.fd.get(), &st) != 0) fatal_io("fstat", path, errno);
  std::uint64_t old_size = static_cast<std::uint64_t>(st.st_size);
  std::vector<HeldWrite> before;  // pre-images, in application order
  before.reserve(f.writes.size());
  for (const HeldWrite& w : f.writes) {
    HeldWrite pre{w.offset, std::vector<std::uint8_t>(w.bytes.size())};
    std::size_t done = 0;
    while (done < pre.bytes.size()) {
      ssize_t n = ::pread(f.fd.get(), pre.bytes.data() + done, pre.bytes.size() - done,
                          static_cast<off_t>(w.offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fatal_io("read (power-cut mode) of", path, errno);
      if (n == 0) break;  // past the end: zeros, and the size is restored
      done += static_cast<std::size_t>(n);
    }
    pwrite_all_raw(f.fd.get(), w.offset, w.bytes.data(), w.bytes.size(), path,
                   "write (power-cut mode, at sync) to");
    before.push_back(std::move(pre));
  }
  int rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  if (rc != 0) {
    int err = errno;
    for (auto p = before.rbegin(); p != before.rend(); ++p) {
      pwrite_all_raw(f.fd.get(), p->offset, p->bytes.data(), p->bytes.size(), path,
                     "restore (power-cut mode) of");
    }
    if (::ftruncate(f.fd.get(), static_cast<off_t>(old_size)) != 0) {
      fatal_io("ftruncate (power-cut mode) of", path, errno);
    }
    fatal_io(what, path, err);
  }
  for (const HeldWrite& w : f.writes) g_held_bytes -= w.bytes.size();
  g_held.erase(it);
}

void forget_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;
  std::lock_guard lock(g_held_mu);
  auto it = g_held.find(InodeKey{st.st_dev, st.st_ino});
  if (it == g_held.end()) return;
  for (const HeldWrite& w : it->second.writes) g_held_bytes -= w.bytes.size();
  g_held.erase(it);
}

}  // namespace

FaultMode fault_mode() { return g_fault.mode; }

const std::string& fault_mode_error() { return g_fault.error; }

std::string fault_mode_banner() {
  if (!powercut()) return {};
  return "event=storage_fault_mode mode=powercut: WAL segment writes are held in memory until "
         "their file is synced; a kill -9 loses every unsynced write (as a power cut)";
}

void set_fault_mode_for_tests(FaultMode mode) {
  std::lock_guard lock(g_held_mu);
  WQ_ASSERT(g_held.empty(), "fault mode switched with {} bytes held", g_held_bytes);
  g_fault.mode = mode;
  g_fault.error.clear();
}

std::uint64_t drop_unsynced_writes() {
  std::lock_guard lock(g_held_mu);
  std::uint64_t n = g_held_bytes;
  g_held.clear();
  g_held_bytes = 0;
  return n;
}

std::uint64_t unsynced_bytes() {
  std::lock_guard lock(g_held_mu);
  return g_held_bytes;
}

[[noreturn]] void fatal_io(std::string_view what, std::string_view path, int err) {
  std::string line = fmt::format("FATAL I/O: {} {}: {} (errno {}); exiting\n", what, path,
                                 std::strerror(err), err);
  // One write(2): no stdio buffering between this line and _exit.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  ::_exit(kFatalIoExitCode);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<Fd> open_file(const std::string& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    ErrorCode code = err == ENOENT ? ErrorCode::kNotFound
                     : is_no_space(err) ? ErrorCode::kNoSpace
                                        : ErrorCode::kIo;
    return Unexpected{code, fmt::format("cannot open {}: {}", path, std::strerror(err))};
  }
  return Fd(fd);
}

namespace {

Status write_now(int fd, std::uint64_t offset, std::span<const std::uint8_t> data,
                 const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      if (is_no_space(err)) {
        return Unexpected{ErrorCode::kNoSpace,
                          fmt::format("no space left writing {} bytes at offset {} of {}",
                                      data.size() - done, offset + done, path)};
      }
      fatal_io("write to", path, err);
    }
    if (n == 0) fatal_io("write (0 bytes written) to", path, EIO);
    done += static_cast<std::size_t>(n);
  }
  return base::Ok{};
}

}  // namespace

Status write_all_or_die(int fd, std::uint64_t offset, std::span<const std::uint8_t> data,
                        const std::string& path) {
  if (powercut()) {
    hold_write(fd, offset, data, path);
    return base::Ok{};
  }
  return write_now(fd, offset, data, path);
}

Status write_zeros_or_die(int fd, std::uint64_t offset, std::uint64_t len,
                          const std::string& path) {
  if (powercut()) forget_range(fd, offset, offset + len, path);
  while (len > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, kZeroChunk));
    Status s = write_now(fd, offset, {zero_chunk(), n}, path);
    if (!s) return s;
    offset += n;
    len -= n;
  }
  return base::Ok{};
}

Result<std::size_t> read_full(int fd, std::uint64_t offset, std::span<std::uint8_t> out,
                              const std::string& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done,
                        static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      return Unexpected{ErrorCode::kIo, fmt::format("cannot read {} at offset {}: {}", path,
                                                    offset + done, std::strerror(err))};
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  if (powercut()) done = overlay_held(fd, offset, out, done, path);
  return done;
}

void fdatasync_or_die(int fd, const std::string& path) {
  if (powercut()) {
    sync_held(fd, path, /*data_only=*/true);
    return;
  }
  if (::fdatasync(fd) != 0) fatal_io("fdatasync", path, errno);
}

void fsync_or_die(int fd, const std::string& path) {
  if (powercut()) {
    sync_held(fd, path, /*data_only=*/false);
    return;
  }
  if (::fsync(fd) != 0) fatal_io("fsync", path, errno);
}

void fsync_dir_or_die(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fatal_io("open directory for fsync", dir, errno);
  Fd owned(fd);
  fsync_or_die(owned.get(), dir);
}

void rename_or_die(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    int err = errno;
    fatal_io("rename", from + " -> " + to, err);
  }
}

void unlink_or_die(const std::string& path) {
  if (powercut()) forget_path(path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fatal_io("unlink", path, errno);
}

Status make_dirs(const std::string& path) {
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string prefix = path.substr(0, pos);
    if (prefix.empty()) continue;
    if (::mkdir(prefix.c_str(), 0755) != 0) {
      int err = errno;
      if (err == EEXIST) continue;
      return Unexpected{is_no_space(err) ? ErrorCode::kNoSpace : ErrorCode::kIo,
                        fmt::format("cannot create directory {}: {}", prefix,
                                    std::strerror(err))};
    }
    fsync_dir_or_die(parent_dir(prefix));
  }
  return base::Ok{};
}

Status create_preallocated(const std::string& path, std::uint64_t size, bool zero_fill) {
  auto fd = open_file(path, O_RDWR | O_CREAT | O_EXCL);
  if (!fd) return Unexpected{fd.error()};
  Status st = base::Ok{};
  if (zero_fill) {
    st = write_zeros_or_die(fd->get(), 0, size, path);
  } else {
    int err = ::posix_fallocate(fd->get(), 0, static_cast<off_t>(size));
    if (err != 0) {
      if (!is_no_space(err)) fatal_io("posix_fallocate", path, err);
      st = Unexpected{ErrorCode::kNoSpace,
                      fmt::format("no space left preallocating {} bytes for {}", size, path)};
    }
  }
  if (!st) {
    fd->reset();
    unlink_or_die(path);
    return st;
  }
  fsync_or_die(fd->get(), path);  // the size and the allocation are metadata: fsync, not fdatasync
  fsync_dir_or_die(parent_dir(path));
  return base::Ok{};
}

Status create_sparse(const std::string& path, std::uint64_t size) {
  auto fd = open_file(path, O_RDWR | O_CREAT | O_EXCL);
  if (!fd) return Unexpected{fd.error()};
  if (::ftruncate(fd->get(), static_cast<off_t>(size)) != 0) {
    int err = errno;
    fd->reset();
    unlink_or_die(path);
    if (!is_no_space(err)) fatal_io("ftruncate", path, err);
    return Unexpected{ErrorCode::kNoSpace, fmt::format("no space left creating {}", path)};
  }
  fsync_or_die(fd->get(), path);  // the size is metadata: fsync, not fdatasync
  fsync_dir_or_die(parent_dir(path));
  return base::Ok{};
}

Status allocate_range(int fd, std::uint64_t offset, std::uint64_t len, bool zero_fill,
                      const std::string& path) {
  if (len == 0) return base::Ok{};
  if (zero_fill) return write_zeros_or_die(fd, offset, len, path);
  int err = ::posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(len));
  if (err != 0) {
    if (!is_no_space(err)) fatal_io("posix_fallocate", path, err);
    return Unexpected{ErrorCode::kNoSpace,
                      fmt::format("no space left allocating {} bytes in {}", len, path)};
  }
  return base::Ok{};
}

bool punch_hole(int fd, std::uint64_t offset, std::uint64_t len, const std::string& path) {
  if (len == 0) return true;
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(len)) == 0) {
    if (powercut()) forget_range(fd, offset, offset + len, path);
    return true;
  }
  if (errno != EOPNOTSUPP && errno != ENOSYS) fatal_io("punching a hole in", path, errno);
  return false;
}

void extend_to(int fd, std::uint64_t size, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fatal_io("fstat", path, errno);
  if (static_cast<std::uint64_t>(st.st_size) >= size) return;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fatal_io("ftruncate", path, errno);
}

std::uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

Result<std::uint64_t> free_bytes(const std::string& path) {
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0) {
    int err = errno;
    return Unexpected{ErrorCode::kIo,
                      fmt::format("cannot statvfs {}: {}", path, std::strerror(err))};
  }
  return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

}  // namespace wq::storage
