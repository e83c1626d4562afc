// Always-on assertions for walquorum. A violated invariant is a bug, and a bug
// ends the process with context (STYLE.md, "Errors" rule 1). Pure: fmt only.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace wq::base {

[[noreturn]] inline void assert_fail(const char* cond, const char* file, int line,
                                     const std::string& msg) {
  std::fprintf(stderr, "ASSERTION FAILED: %s at %s:%d: %s\n", cond, file, line, msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace wq::base

// WQ_ASSERT(cond, "format {}", args...) — on in every build type.
#define WQ_ASSERT(cond, ...)                                                       \
  do {                                                                             \
    if (!(cond)) [[unlikely]] {                                                    \
      ::wq::base::assert_fail(#cond, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
    }                                                                              \
  } while (0)
