// The walquorum-pageserver process: opens the page store, runs the Service
// (ingest + image worker), the WalReceiver, the GetPage@LSN port (framed Cap'n
// Proto over TCP, one request served at a time per connection, in order, on a
// pool of threads that may block waiting for ingest), HTTP /v1/status and
// /metrics, and the retention loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <asio.hpp>

#include "base/result.h"
#include "net/listener.h"
#include "pageserver/config.h"
#include "pageserver/receiver.h"
#include "pageserver/service.h"
#include "pageserver/store.h"

namespace httplib {
class Server;
}

namespace wq::pageserver {

class Server {
 public:
  Server(Config config, asio::io_context& io);
  ~Server();
  // Opens everything; kIo/kCorrupt with a one-line message on failure.
  base::Status start();
  void stop();

 private:
  void on_accept(asio::ip::tcp::socket socket);
  std::string status_json() const;
  void retention_loop();

  Config config_;
  asio::io_context& io_;
  std::unique_ptr<PageStore> store_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<WalReceiver> receiver_;
  std::shared_ptr<net::Listener> listener_;
  std::unique_ptr<asio::thread_pool> pool_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::thread retention_thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> connections_{0};
};

}  // namespace wq::pageserver
