// walquorum-waldump: decode PostgreSQL 15 WAL segments (see waldump.h). Thin:
// CLI11 parsing, whose exceptions become one-line errors and exit 2, then run().
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "waldump/waldump.h"

int main(int argc, char** argv) {
  wq::waldump::Options options;
  CLI::App app{"walquorum-waldump: decode PostgreSQL 15 WAL segment files", "walquorum-waldump"};
  wq::waldump::add_options(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return wq::waldump::kExitOk;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "walquorum-waldump: error: %s (see --help)\n", e.what());
    return wq::waldump::kExitError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "walquorum-waldump: error: %s\n", e.what());
    return wq::waldump::kExitError;
  }
  return wq::waldump::run(options, stdout, stderr);
}
