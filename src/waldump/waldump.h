// walquorum-waldump as a library: the command-line options, their
// registration with CLI11, and run(), which decodes the segments with
// wal::StreamDecoder (fed in bounded chunks) and prints records, JSON or
// statistics. main.cc only parses and calls run(); tests call run() directly.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace wq::waldump {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 2;  // bad flags, unreadable, corrupt or truncated WAL

struct Options {
  std::string start;            // "X/Y"; empty: the start of the first segment
  std::string end;              // "X/Y"; empty: until the WAL ends
  bool stats = false;
  bool json = false;
  std::uint32_t timeline = 0;   // 0: the timeline of the lowest segment name
  std::vector<std::string> paths;
  // KiB read and fed to the decoder at a time: small enough that the copies
  // (kernel -> buffer -> decoder) stay in L2 cache (128 beat 1024 by ~12% CPU).
  std::size_t chunk_kib = 128;
};

// Registers every option and the help text on app.
void add_options(CLI::App& app, Options& options);

// Decodes and prints. Records (text or JSON lines) and statistics go to out;
// the final end-of-WAL line and errors go to err. Returns kExitOk when the WAL
// ended normally and covered the requested range, kExitError otherwise.
int run(const Options& options, std::FILE* out, std::FILE* err);

}  // namespace wq::waldump
