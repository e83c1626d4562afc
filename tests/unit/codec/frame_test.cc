// codec/frame: framing round trips under arbitrary chunking, and the errors
// for zero-length and oversized frames.
#include "codec/frame.h"

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "random_messages.h"

namespace wq::codec {
namespace {

using testing::Prng;

std::vector<std::uint8_t> header_bytes(std::uint32_t n) {
  return {static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8),
          static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 24)};
}

// Feeds `stream` in chunks of 1..max_chunk bytes, draining after each feed.
std::vector<std::vector<std::uint8_t>> split(FrameReader& reader,
                                             const std::vector<std::uint8_t>& stream,
                                             Prng& rng, std::size_t max_chunk) {
  std::vector<std::vector<std::uint8_t>> frames;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng.below(max_chunk), stream.size() - at);
    reader.feed(std::span(stream).subspan(at, n));
    at += n;
    for (;;) {
      auto frame = reader.next();
      REQUIRE(frame.has_value());
      if (!frame->has_value()) break;
      frames.emplace_back((*frame)->begin(), (*frame)->end());
    }
    CHECK(reader.buffered_bytes() <= kFrameHeaderBytes + reader.frame_bytes_max());
  }
  return frames;
}

TEST_CASE("frame header is a little-endian u32") {
  const std::vector<std::uint8_t> payload = {9, 8, 7};
  const auto frame = encode_frame(payload);
  CHECK(frame == std::vector<std::uint8_t>{3, 0, 0, 0, 9, 8, 7});
  const auto h = frame_header(0x01020304);
  CHECK(std::vector<std::uint8_t>(h.begin(), h.end()) == header_bytes(0x01020304));
}

TEST_CASE("frames survive arbitrary chunking") {
  Prng rng(11);
  for (std::size_t max_chunk : {1, 2, 3, 7, 64, 1000, 100000}) {
    std::vector<std::vector<std::uint8_t>> sent;
    std::vector<std::uint8_t> stream;
    for (std::size_t i = 0; i < 60; ++i) {
      const std::size_t size = rng.below(5) == 0 ? 1 + rng.below(20000) : 1 + rng.below(100);
      sent.push_back(rng.bytes(size));
      const auto frame = encode_frame(sent.back());
      stream.insert(stream.end(), frame.begin(), frame.end());
    }
    FrameReader reader;
    CHECK(split(reader, stream, rng, max_chunk) == sent);
    CHECK(reader.buffered_bytes() == 0);
  }
}

TEST_CASE("a frame that starts the buffer has an 8-byte aligned payload") {
  FrameReader reader;
  const auto frame = encode_frame(std::vector<std::uint8_t>(100, 1));
  reader.feed(std::span(frame).first(3));
  REQUIRE(!reader.next()->has_value());
  reader.feed(std::span(frame).subspan(3));
  auto got = reader.next();
  REQUIRE(got->has_value());
  CHECK(reinterpret_cast<std::uintptr_t>((*got)->data()) % 8 == 0);
}

TEST_CASE("an incomplete frame asks for more bytes") {
  FrameReader reader;
  const auto frame = encode_frame(std::vector<std::uint8_t>(50, 2));
  reader.feed(std::span(frame).first(frame.size() - 1));
  for (int i = 0; i < 3; ++i) {
    auto r = reader.next();
    REQUIRE(r.has_value());
    CHECK(!r->has_value());
  }
  CHECK(reader.buffered_bytes() == frame.size() - 1);
  reader.feed(std::span(frame).last(1));
  auto r = reader.next();
  REQUIRE(r->has_value());
  CHECK((*r)->size() == 50);
}

TEST_CASE("an oversized frame is an error, and errors are sticky") {
  FrameReader reader(32 * 1024 * 1024);
  reader.feed(header_bytes(40000000));
  auto r = reader.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == base::ErrorCode::kMalformedMessage);
  CHECK(r.error().message == "frame too large: 40000000 bytes, maximum 33554432");
  // Later input cannot resynchronise the stream.
  reader.feed(encode_frame(std::vector<std::uint8_t>{1}));
  auto again = reader.next();
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().message == r.error().message);
}

TEST_CASE("the frame limit is per reader and inclusive") {
  FrameReader reader(16);
  reader.feed(encode_frame(std::vector<std::uint8_t>(16, 3)));
  auto ok = reader.next();
  REQUIRE(ok.has_value());
  CHECK((*ok)->size() == 16);
  reader.feed(header_bytes(17));
  auto r = reader.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "frame too large: 17 bytes, maximum 16");
}

TEST_CASE("a zero-length frame is an error") {
  FrameReader reader;
  reader.feed(header_bytes(0));
  auto r = reader.next();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == base::ErrorCode::kMalformedMessage);
  CHECK(r.error().message == "zero-length frame");
}

TEST_CASE("memory stays bounded over many large frames") {
  Prng rng(12);
  FrameReader reader(1 << 20);
  const auto frame = encode_frame(rng.bytes(1 << 20));
  for (int i = 0; i < 8; ++i) {
    std::size_t at = 0;
    while (at < frame.size()) {
      const std::size_t n = std::min<std::size_t>(1 + rng.below(70000), frame.size() - at);
      reader.feed(std::span(frame).subspan(at, n));
      at += n;
      while (true) {
        auto r = reader.next();
        REQUIRE(r.has_value());
        if (!r->has_value()) break;
        CHECK((*r)->size() == frame.size() - kFrameHeaderBytes);
      }
      CHECK(reader.buffered_bytes() <= frame.size());
    }
  }
}

}  // namespace
}  // namespace wq::codec
