// Length-prefixed framing for the --listen-wal port: every frame is
// [u32 little-endian payload length][payload], the payload being one encoded
// Envelope (codec/messages.h). FrameReader splits an arbitrary byte stream back
// into payloads with bounded memory. No I/O: net/ feeds it what it reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"

namespace wq::codec {

inline constexpr std::size_t kFrameHeaderBytes = 4;
// The largest payload a peer may send: up to 32 MiB of WAL plus room for the
// envelope and a term history. Senders split larger WAL ranges.
inline constexpr std::size_t kFrameBytesMax = 32 * 1024 * 1024 + 64 * 1024;

// The 4-byte header for a payload of `payload_bytes`. For writers that send
// header and payload as two buffers instead of copying (see encode_frame).
// Asserts 0 < payload_bytes <= kFrameBytesMax: a larger frame is a sender bug.
std::array<std::uint8_t, kFrameHeaderBytes> frame_header(std::size_t payload_bytes);

// header + payload in one buffer. Same precondition as frame_header.
std::vector<std::uint8_t> encode_frame(std::span<const std::uint8_t> payload);

// Splits a byte stream into frame payloads.
//
// Usage: feed() whatever the socket returned, then call next() until it returns
// nullopt ("need more bytes") or an error, then feed() again. Memory held is at
// most kFrameHeaderBytes + frame_bytes_max plus the last chunk fed; feeding
// again without draining next() to nullopt is a caller bug (asserted when the
// buffer would pass that bound).
//
// Errors (kMalformedMessage: zero length, length above frame_bytes_max) are
// sticky: the stream cannot be resynchronised, so the caller closes the
// connection. Later feed() calls are ignored and next() repeats the error.
class FrameReader {
 public:
  using Frame = std::span<const std::uint8_t>;

  explicit FrameReader(std::size_t frame_bytes_max = kFrameBytesMax);

  void feed(std::span<const std::uint8_t> bytes);

  // The next complete payload, nullopt if more bytes are needed, or an error.
  // The span stays valid until the next call to feed() or next(). Payloads that
  // start a buffer are 8-byte aligned, so the decoder need not copy them.
  [[nodiscard]] base::Result<std::optional<Frame>> next();

  // Bytes fed but not yet returned as (part of) a frame.
  std::size_t buffered_bytes() const { return end_ - begin_; }
  std::size_t frame_bytes_max() const { return frame_bytes_max_; }

 private:
  void make_room(std::size_t more_bytes);
  std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(words_.data()); }

  std::size_t frame_bytes_max_;
  // Word storage so that offset kAlignedStart + kFrameHeaderBytes is 8-byte aligned.
  std::vector<std::uint64_t> words_;
  std::size_t begin_;  // byte offset of the first unconsumed byte
  std::size_t end_;    // byte offset one past the last fed byte
  std::optional<base::Error> error_;
};

}  // namespace wq::codec
