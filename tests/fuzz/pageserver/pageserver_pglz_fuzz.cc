// libFuzzer target: the pglz decompressor over arbitrary streams and output
// sizes (the first two bytes choose the size, up to one page). It must never
// read or write out of bounds; success means exactly the requested size.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/assert.h"
#include "pageserver/image.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::size_t out_size = (static_cast<std::size_t>(data[0]) | (static_cast<std::size_t>(data[1]) << 8)) % 8193;
  std::vector<std::uint8_t> out(out_size);
  auto st = wq::pageserver::pglz_decompress(std::span<const std::uint8_t>(data + 2, size - 2), out);
  if (!st) {
    WQ_ASSERT(st.error().code == wq::base::ErrorCode::kCorrupt, "unexpected code");
  }
  return 0;
}
