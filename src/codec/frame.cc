// Length-prefixed framing. See frame.h.
#include "codec/frame.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/assert.h"

namespace wq::codec {
namespace {

// Where a frame header sits after compaction, so that its payload starts on an
// 8-byte boundary and the Cap'n Proto reader can use it in place.
constexpr std::size_t kAlignedStart = 8 - kFrameHeaderBytes;
// An empty buffer larger than this is released, so one large frame does not pin
// memory for the rest of a connection.
constexpr std::size_t kRetainBytes = 1024 * 1024;

std::uint32_t load_le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

}  // namespace

std::array<std::uint8_t, kFrameHeaderBytes> frame_header(std::size_t payload_bytes) {
  WQ_ASSERT(payload_bytes > 0 && payload_bytes <= kFrameBytesMax,
            "frame payload of {} bytes, expected 1..{}", payload_bytes, kFrameBytesMax);
  const auto n = static_cast<std::uint32_t>(payload_bytes);
  return {static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8),
          static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 24)};
}

std::vector<std::uint8_t> encode_frame(std::span<const std::uint8_t> payload) {
  const auto header = frame_header(payload.size());
  std::vector<std::uint8_t> out(header.size() + payload.size());
  std::memcpy(out.data(), header.data(), header.size());
  std::memcpy(out.data() + header.size(), payload.data(), payload.size());
  return out;
}

FrameReader::FrameReader(std::size_t frame_bytes_max)
    : frame_bytes_max_(frame_bytes_max), begin_(kAlignedStart), end_(kAlignedStart) {
  WQ_ASSERT(frame_bytes_max > 0 && frame_bytes_max <= 0xFFFFFFFFu,
            "frame_bytes_max {} out of range", frame_bytes_max);
}

void FrameReader::feed(std::span<const std::uint8_t> bytes) {
  if (error_ || bytes.empty()) return;
  make_room(bytes.size());
  std::memcpy(data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

void FrameReader::make_room(std::size_t more_bytes) {
  const std::size_t pending = end_ - begin_;
  // After next() returned nullopt, at most one incomplete frame is buffered.
  WQ_ASSERT(pending <= kFrameHeaderBytes + frame_bytes_max_,
            "FrameReader::feed with {} bytes buffered: drain next() before feeding more",
            pending);
  if (pending == 0 && words_.size() * 8 > kRetainBytes) {
    words_ = {};
  }
  if (begin_ != kAlignedStart) {
    // Moves only the tail of an incomplete frame, once, to align its payload.
    if (pending > 0) std::memmove(data() + kAlignedStart, data() + begin_, pending);
    begin_ = kAlignedStart;
    end_ = kAlignedStart + pending;
  }
  const std::size_t needed_bytes = end_ + more_bytes;
  if (needed_bytes > words_.size() * 8) {
    const std::size_t needed_words = (needed_bytes + 7) / 8;
    words_.resize(std::max(needed_words, words_.size() * 2));
  }
}

base::Result<std::optional<FrameReader::Frame>> FrameReader::next() {
  if (error_) return base::Unexpected(*error_);
  const std::size_t pending = end_ - begin_;
  if (pending < kFrameHeaderBytes) return std::optional<Frame>();
  const std::uint32_t length = load_le32(data() + begin_);
  if (length == 0) {
    error_ = base::Error{base::ErrorCode::kMalformedMessage, "zero-length frame"};
    return base::Unexpected(*error_);
  }
  if (length > frame_bytes_max_) {
    error_ = base::Error{base::ErrorCode::kMalformedMessage,
                         fmt::format("frame too large: {} bytes, maximum {}", length,
                                     frame_bytes_max_)};
    return base::Unexpected(*error_);
  }
  if (pending - kFrameHeaderBytes < length) return std::optional<Frame>();
  const Frame frame(data() + begin_ + kFrameHeaderBytes, length);
  begin_ += kFrameHeaderBytes + length;
  if (begin_ == end_) {
    // Memory is untouched until the next feed(), so `frame` stays valid.
    begin_ = kAlignedStart;
    end_ = kAlignedStart;
  }
  return std::optional<Frame>(frame);
}

}  // namespace wq::codec
