// walquorum-pageserver: entry point. Parses flags (exit 2 on bad input), sets
// up logging, runs the Server until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "pageserver/config.h"
#include "pageserver/server.h"

int main(int argc, char** argv) {
  auto parsed = wq::pageserver::parse_args(argc, argv);
  if (auto* exit = std::get_if<wq::pageserver::ParseExit>(&parsed)) {
    std::fprintf(exit->exit_code == 0 ? stdout : stderr, "%s\n", exit->text.c_str());
    return exit->exit_code;
  }
  const auto& config = std::get<wq::pageserver::Config>(parsed);

  auto logger = spdlog::stderr_color_mt("ps", spdlog::color_mode::never);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l ps %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  std::signal(SIGPIPE, SIG_IGN);

  asio::io_context io;
  wq::pageserver::Server server(config, io);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "walquorum-pageserver: error: %s\n", st.error().message.c_str());
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("event=stopping signal={}", sig);
    io.stop();
  });
  io.run();
  server.stop();  // the receiver syncs what it ingested before this returns
  spdlog::info("event=stopped");
  spdlog::shutdown();
  // Connections still hold handlers on the stopped io_context; the store is
  // synced, so leave without tearing them down.
  std::_Exit(0);
}
