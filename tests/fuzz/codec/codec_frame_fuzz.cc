// libFuzzer target: codec::FrameReader over an input stream fed in
// input-chosen chunks, checked against a one-shot reference parser; every
// frame it yields is also run through both message decoders.
// Input layout: [limit selector][chunking seed][stream...].
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "codec/frame.h"
#include "codec/messages.h"

namespace {

using wq::codec::FrameReader;
using wq::codec::kFrameBytesMax;
using wq::codec::kFrameHeaderBytes;

struct Reference {
  std::vector<std::span<const std::uint8_t>> frames;
  std::optional<std::string> error;
  std::size_t consumed = 0;
};

Reference parse_at_once(std::span<const std::uint8_t> s, std::size_t max) {
  Reference ref;
  while (s.size() - ref.consumed >= kFrameHeaderBytes) {
    const std::uint8_t* p = s.data() + ref.consumed;
    const std::uint32_t len = static_cast<std::uint32_t>(p[0]) | (std::uint32_t{p[1]} << 8) |
                              (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
    if (len == 0) {
      ref.error = "zero-length frame";
      break;
    }
    if (len > max) {
      ref.error = "frame too large: " + std::to_string(len) + " bytes, maximum " +
                  std::to_string(max);
      break;
    }
    if (s.size() - ref.consumed - kFrameHeaderBytes < len) break;
    ref.frames.push_back(s.subspan(ref.consumed + kFrameHeaderBytes, len));
    ref.consumed += kFrameHeaderBytes + len;
  }
  return ref;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static constexpr std::size_t kLimits[] = {1, 8, 64, 4096, kFrameBytesMax};
  const std::size_t max = kLimits[data[0] % std::size(kLimits)];
  std::uint32_t x = data[1];
  const std::span<const std::uint8_t> stream(data + 2, size - 2);
  const Reference ref = parse_at_once(stream, max);

  FrameReader reader(max);
  std::size_t fed = 0;
  std::size_t frames = 0;
  std::size_t frame_bytes = 0;
  bool failed = false;
  while (fed < stream.size() && !failed) {
    x = x * 1103515245u + 12345u;
    const std::size_t want = (x >> 16) % 8 == 0 ? 1 + (x >> 8) % 4096 : 1 + (x >> 16) % 17;
    const std::size_t n = std::min(want, stream.size() - fed);
    reader.feed(stream.subspan(fed, n));
    fed += n;
    for (;;) {
      auto r = reader.next();
      if (!r.has_value()) {
        WQ_ASSERT(ref.error.has_value(), "FrameReader error '{}' where the reference has none",
                  r.error().message);
        WQ_ASSERT(r.error().message == *ref.error, "error '{}', reference '{}'",
                  r.error().message, *ref.error);
        WQ_ASSERT(frames == ref.frames.size(), "error after {} frames, reference {}", frames,
                  ref.frames.size());
        failed = true;
        break;
      }
      if (!r->has_value()) break;
      const auto frame = **r;
      WQ_ASSERT(frames < ref.frames.size(), "extra frame {}", frames);
      const auto want_frame = ref.frames[frames];
      WQ_ASSERT(frame.size() == want_frame.size() &&
                    std::equal(frame.begin(), frame.end(), want_frame.begin()),
                "frame {} differs from the reference", frames);
      ++frames;
      frame_bytes += kFrameHeaderBytes + frame.size();
      (void)wq::codec::decode_proposer_message(frame);
      (void)wq::codec::decode_acceptor_message(frame);
    }
    WQ_ASSERT(reader.buffered_bytes() <= kFrameHeaderBytes + max || failed,
              "{} bytes buffered with a {}-byte limit", reader.buffered_bytes(), max);
  }
  if (!failed) {
    WQ_ASSERT(!ref.error.has_value(), "reference error '{}' not reported", *ref.error);
    WQ_ASSERT(frames == ref.frames.size(), "{} frames, reference {}", frames, ref.frames.size());
    WQ_ASSERT(reader.buffered_bytes() == stream.size() - frame_bytes, "buffered {} of {}",
              reader.buffered_bytes(), stream.size() - frame_bytes);
  }
  return 0;
}
