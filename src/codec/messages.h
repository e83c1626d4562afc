// Conversion between the core message structs (core/messages.h) and their
// Cap'n Proto encoding (schemas/walquorum.capnp): one Envelope per frame
// payload, carrying core::kProtocolVersion. This header names no Cap'n Proto
// type; codec/messages.cc is the only file that includes the generated code.
//
// Decoding is for untrusted bytes from the network: it never crashes, never
// throws, and every failure is ErrorCode::kMalformedMessage with a one-line
// message naming the field and what was expected. The caller closes the
// connection (STYLE.md "Errors" rule 6).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "core/messages.h"

namespace wq::codec {

// Encoded payload (without the frame header; see codec/frame.h). The WAL bytes
// of AppendRequest, ReadWalResponse and PeerFetchResponse are copied once, into
// the returned buffer. Asserts the payload fits kFrameBytesMax: a sender must
// split WAL larger than that.
std::vector<std::uint8_t> encode(const core::ProposerMessage& message);
std::vector<std::uint8_t> encode(const core::AcceptorMessage& message);

// Decodes one payload. Beyond Cap'n Proto's own validation it rejects: a
// protocol version other than core::kProtocolVersion, the other direction's
// message, an unknown union member or enum value, ids that are not 16 bytes,
// trailing bytes, term histories whose terms do not strictly increase or whose
// LSNs decrease, and an AppendRequest whose WAL size differs from
// endLsn - beginLsn. The payload need not be aligned (it is copied if not).
[[nodiscard]] base::Result<core::ProposerMessage> decode_proposer_message(
    std::span<const std::uint8_t> payload);
[[nodiscard]] base::Result<core::AcceptorMessage> decode_acceptor_message(
    std::span<const std::uint8_t> payload);

// The message's name for logs: "AppendRequest", "Refused", ...
const char* message_name(const core::ProposerMessage& message);
const char* message_name(const core::AcceptorMessage& message);

}  // namespace wq::codec
