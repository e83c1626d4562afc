// libFuzzer target: both message decoders over arbitrary payloads. Decoding
// must not crash or throw; the result must not depend on the payload's
// alignment; whatever decodes must re-encode and decode to the same message.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "base/assert.h"
#include "codec/messages.h"

namespace {

template <typename Message>
void check_same(const wq::base::Result<Message>& a, const wq::base::Result<Message>& b) {
  WQ_ASSERT(a.has_value() == b.has_value(), "aligned and unaligned decodes disagree");
  if (a.has_value()) {
    WQ_ASSERT(*a == *b, "aligned and unaligned decodes differ");
  } else {
    WQ_ASSERT(a.error().code == wq::base::ErrorCode::kMalformedMessage, "unexpected code");
    WQ_ASSERT(a.error().message == b.error().message, "'{}' vs '{}'", a.error().message,
              b.error().message);
    WQ_ASSERT(a.error().message.find('\n') == std::string::npos, "multi-line error");
  }
}

template <typename Message>
void check_round_trip(const wq::base::Result<Message>& decoded,
                      wq::base::Result<Message> (*decode)(std::span<const std::uint8_t>)) {
  if (!decoded.has_value()) return;
  const auto bytes = wq::codec::encode(*decoded);
  auto again = decode(bytes);
  WQ_ASSERT(again.has_value(), "re-encoded {} does not decode: {}",
            wq::codec::message_name(*decoded), again.error().message);
  WQ_ASSERT(*again == *decoded, "re-encoded {} decodes differently",
            wq::codec::message_name(*decoded));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Word-aligned copy and a copy one byte off alignment.
  std::vector<std::uint64_t> aligned(size / 8 + 1);
  std::memcpy(aligned.data(), data, size);
  std::vector<std::uint8_t> shifted(size + 1);
  std::memcpy(shifted.data() + 1, data, size);
  const std::span<const std::uint8_t> a(reinterpret_cast<const std::uint8_t*>(aligned.data()),
                                        size);
  const std::span<const std::uint8_t> u(shifted.data() + 1, size);

  const auto p = wq::codec::decode_proposer_message(a);
  check_same(p, wq::codec::decode_proposer_message(u));
  check_round_trip(p, &wq::codec::decode_proposer_message);

  const auto m = wq::codec::decode_acceptor_message(a);
  check_same(m, wq::codec::decode_acceptor_message(u));
  check_round_trip(m, &wq::codec::decode_acceptor_message);
  return 0;
}
