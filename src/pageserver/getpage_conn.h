// A small blocking GetPage@LSN client connection: connect to a pageserver's
// --listen-page port, send one framed request (codec/frame.h), read one framed
// response, decode it (getpage_codec.h). One request in flight at a time. Used
// by walquorum-getpage, `walquorum-compute verify` and getpage-bench. Failures
// are base::Result errors (kIo, or the frame/decode error) naming the peer;
// any failure closes the connection, and connect() may be called again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "codec/frame.h"
#include "net/address.h"
#include "pageserver/getpage_codec.h"

namespace wq::pageserver {

class GetPageConnection {
 public:
  // Called about once a second while an answer is awaited, with the ms waited.
  using Waiting = std::function<void(std::uint32_t waited_ms)>;

  GetPageConnection() = default;
  ~GetPageConnection() { close(); }
  GetPageConnection(const GetPageConnection&) = delete;
  GetPageConnection& operator=(const GetPageConnection&) = delete;

  // Blocking connect (every address the name resolves to, in order); closes a
  // previous connection first. no_delay sets TCP_NODELAY. kIo "cannot connect
  // to H:P" on failure.
  base::Status connect(const net::HostPort& server, bool no_delay = false);
  bool connected() const { return fd_ >= 0; }
  void close();

  // Sends `request` and returns the payload of the next response frame, not
  // decoded. timeout_ms 0 waits without limit.
  base::Result<std::vector<std::uint8_t>> exchange(const GetPageRequest& request, std::uint32_t timeout_ms = 0,
                                                   const Waiting& waiting = {});
  // exchange() and decode_response().
  base::Result<GetPageResponse> request(const GetPageRequest& request, std::uint32_t timeout_ms = 0,
                                        const Waiting& waiting = {});

 private:
  base::Unexpected fail(base::ErrorCode code, std::string message);

  std::string peer_;
  int fd_ = -1;
  std::unique_ptr<codec::FrameReader> reader_;
};

}  // namespace wq::pageserver
