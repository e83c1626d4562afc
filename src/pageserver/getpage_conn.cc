#include "pageserver/getpage_conn.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <span>

#include <fmt/format.h>

namespace wq::pageserver {

namespace {
using Clock = std::chrono::steady_clock;
constexpr std::size_t kResponseFrameMax = 1 << 20;
}  // namespace

void GetPageConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  reader_.reset();
}

base::Unexpected GetPageConnection::fail(base::ErrorCode code, std::string message) {
  close();
  return base::Unexpected{code, std::move(message)};
}

base::Status GetPageConnection::connect(const net::HostPort& server, bool no_delay) {
  close();
  peer_ = server.to_string();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(server.host.c_str(), std::to_string(server.port).c_str(), &hints, &res) != 0) {
    return fail(base::ErrorCode::kIo, fmt::format("cannot connect to {}", peer_));
  }
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return fail(base::ErrorCode::kIo, fmt::format("cannot connect to {}", peer_));
  if (no_delay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  fd_ = fd;
  reader_ = std::make_unique<codec::FrameReader>(kResponseFrameMax);
  return base::Ok{};
}

base::Result<std::vector<std::uint8_t>> GetPageConnection::exchange(const GetPageRequest& request,
                                                                    std::uint32_t timeout_ms,
                                                                    const Waiting& waiting) {
  if (fd_ < 0) return base::Unexpected{base::ErrorCode::kIo, fmt::format("not connected to {}", peer_)};
  auto frame = codec::encode_frame(encode_request(request));
  const std::uint8_t* p = frame.data();
  std::size_t n = frame.size();
  while (n > 0) {
    ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (w <= 0) return fail(base::ErrorCode::kIo, fmt::format("writing to {} failed", peer_));
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(timeout_ms);
  std::uint8_t buf[65536];
  for (;;) {
    auto next = reader_->next();
    if (!next) return fail(next.error().code, next.error().message);
    if (*next) return std::vector<std::uint8_t>((*next)->begin(), (*next)->end());
    long long left = 1000;
    if (timeout_ms > 0) {
      left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return fail(base::ErrorCode::kIo, fmt::format("no answer within {} ms", timeout_ms));
    }
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (pr < 0 && errno != EINTR) return fail(base::ErrorCode::kIo, "poll failed");
    if (pr == 0 && waiting) {
      if (timeout_ms > 0) {
        waiting(timeout_ms - static_cast<std::uint32_t>(std::max<long long>(left - 1000, 0)));
      } else {
        waiting(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()));
      }
    }
    if (pr <= 0) continue;
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) return fail(base::ErrorCode::kIo, fmt::format("{} closed the connection", peer_));
    reader_->feed(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(r)));
  }
}

base::Result<GetPageResponse> GetPageConnection::request(const GetPageRequest& request, std::uint32_t timeout_ms,
                                                         const Waiting& waiting) {
  auto payload = exchange(request, timeout_ms, waiting);
  if (!payload) return base::Unexpected{payload.error()};
  auto resp = decode_response(*payload);
  if (!resp) return fail(resp.error().code, resp.error().message);
  return resp;
}

}  // namespace wq::pageserver
