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

#include <fmt/format.h>

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

}  // namespace

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

Status write_all_or_die(int fd, std::uint64_t offset, std::span<const std::uint8_t> data,
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

Status write_zeros_or_die(int fd, std::uint64_t offset, std::uint64_t len,
                          const std::string& path) {
  while (len > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, kZeroChunk));
    Status s = write_all_or_die(fd, offset, {zero_chunk(), n}, path);
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
  return done;
}

void fdatasync_or_die(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) fatal_io("fdatasync", path, errno);
}

void fsync_or_die(int fd, const std::string& path) {
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
