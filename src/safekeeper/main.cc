// walquorum-safekeeper: entry point. Parses flags (exit 2 on bad input), sets
// up logging, runs the Server on one network thread until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "safekeeper/config.h"
#include "safekeeper/server.h"
#include "storage/fault.h"

int main(int argc, char** argv) {
  auto parsed = wq::safekeeper::parse_args(argc, argv);
  if (auto* exit = std::get_if<wq::safekeeper::ParseExit>(&parsed)) {
    std::fprintf(exit->exit_code == 0 ? stdout : stderr, "%s\n", exit->text.c_str());
    return exit->exit_code;
  }
  const auto& config = std::get<wq::safekeeper::Config>(parsed);

  auto logger = spdlog::stderr_color_mt("sk", spdlog::color_mode::never);
  logger->set_pattern(fmt::format("%Y-%m-%dT%H:%M:%S.%fZ %l sk={} %v", config.id),
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  std::signal(SIGPIPE, SIG_IGN);
  // WQ_STORAGE_FAULT (tests of the real binary, storage/fault.h): a bad value
  // is refused; a fault mode that is on is said once, loudly.
  if (const auto& bad = wq::storage::fault_mode_error(); !bad.empty()) {
    std::fprintf(stderr, "walquorum-safekeeper: error: %s\n", bad.c_str());
    return 2;
  }
  if (auto banner = wq::storage::fault_mode_banner(); !banner.empty()) spdlog::warn("{}", banner);

  asio::io_context io;
  wq::safekeeper::Server server(config, io);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "walquorum-safekeeper: error: %s\n", st.error().message.c_str());
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("event=stopping signal={}", sig);
    io.stop();
  });
  io.run();
  server.stop();  // every written byte is synced before this returns
  spdlog::info("event=stopped");
  spdlog::shutdown();
  // Connections and strands still hold each other in pending handlers; the
  // durable state is complete, so leave without tearing them down.
  std::_Exit(0);
}
