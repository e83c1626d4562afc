// codec/messages: round trips of every message and rejection of every kind of
// malformed payload with a one-line kMalformedMessage error.
#include "codec/messages.h"

#include <cstring>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <doctest/doctest.h>

#include "codec/frame.h"
#include "random_messages.h"
#include "walquorum.capnp.h"

namespace wq::codec {
namespace {

using testing::Prng;

template <typename T>
std::string error_of(const base::Result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == base::ErrorCode::kMalformedMessage);
  CHECK(r.error().message.find('\n') == std::string::npos);
  return r.error().message;
}

std::vector<std::uint8_t> to_bytes(capnp::MessageBuilder& builder) {
  const auto flat = capnp::messageToFlatArray(builder);
  const auto bytes = flat.asBytes();
  return {bytes.begin(), bytes.end()};
}

// A valid envelope built directly with Cap'n Proto, for tests that need to
// produce what our encoder never would.
struct Crafted {
  capnp::MallocMessageBuilder builder;
  schema::Envelope::Builder envelope = builder.initRoot<schema::Envelope>();
  Crafted() { envelope.setVersion(core::kProtocolVersion); }
  std::vector<std::uint8_t> bytes() { return to_bytes(builder); }
};

// Byte offset of Envelope's union discriminant in our encoding: segment table
// (8), root pointer (8), then the data section, where `version` takes bytes 0-3
// and the discriminant bytes 4-5.
constexpr std::size_t kEnvelopeWhichOffset = 8 + 8 + 4;

TEST_CASE("every proposer message round-trips") {
  Prng rng(1);
  for (std::size_t i = 0; i < 3000; ++i) {
    const core::ProposerMessage m = testing::random_proposer_message(rng, i);
    const auto bytes = encode(m);
    CHECK(bytes.size() % 8 == 0);
    auto decoded = decode_proposer_message(bytes);
    REQUIRE_MESSAGE(decoded.has_value(), decoded.error().message);
    CHECK(*decoded == m);
  }
}

TEST_CASE("every acceptor message round-trips") {
  Prng rng(2);
  for (std::size_t i = 0; i < 3000; ++i) {
    const core::AcceptorMessage m = testing::random_acceptor_message(rng, i);
    const auto bytes = encode(m);
    auto decoded = decode_acceptor_message(bytes);
    REQUIRE_MESSAGE(decoded.has_value(), decoded.error().message);
    CHECK(*decoded == m);
  }
}

TEST_CASE("default-constructed messages round-trip") {
  for (std::size_t i = 0; i < std::variant_size_v<core::ProposerMessage>; ++i) {
    core::ProposerMessage m;
    switch (i) {
      case 0: m = core::ProposerGreeting{}; break;
      case 1: m = core::VoteRequest{}; break;
      case 2: m = core::ProposerElected{}; break;
      case 3: m = core::AppendRequest{}; break;
      case 4: m = core::ReadWalRequest{}; break;
      default: m = core::PeerFetchRequest{}; break;
    }
    auto decoded = decode_proposer_message(encode(m));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == m);
    CHECK(std::string(message_name(*decoded)) == message_name(m));
  }
  for (std::size_t i = 0; i < std::variant_size_v<core::AcceptorMessage>; ++i) {
    core::AcceptorMessage m;
    switch (i) {
      case 0: m = core::AcceptorGreeting{}; break;
      case 1: m = core::VoteResponse{}; break;
      case 2: m = core::AppendResponse{}; break;
      case 3: m = core::ReadWalResponse{}; break;
      case 4: m = core::PeerFetchResponse{}; break;
      default: m = core::Refused{}; break;
    }
    auto decoded = decode_acceptor_message(encode(m));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == m);
  }
}

TEST_CASE("a large AppendRequest round-trips in one segment") {
  Prng rng(3);
  core::AppendRequest a;
  a.term = core::Term(9);
  a.wal = rng.bytes(128 * 1024 + 3);
  a.begin_lsn = core::Lsn(0x1000000);
  a.end_lsn = a.begin_lsn + a.wal.size();
  const auto bytes = encode(a);
  // One segment: table word says "1 segment" and the encoding is compact.
  CHECK(bytes[0] == 0);
  CHECK(bytes.size() < a.wal.size() + 256);
  auto decoded = decode_proposer_message(bytes);
  REQUIRE(decoded.has_value());
  CHECK(std::get<core::AppendRequest>(*decoded) == a);
}

TEST_CASE("a payload that is not 8-byte aligned decodes") {
  Prng rng(4);
  for (std::size_t i = 0; i < 60; ++i) {
    const auto m = testing::random_acceptor_message(rng, i);
    const auto bytes = encode(m);
    std::vector<std::uint8_t> shifted(bytes.size() + 1);
    std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
    auto decoded = decode_acceptor_message(std::span(shifted).subspan(1));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == m);
  }
}

TEST_CASE("wrong protocol version") {
  Crafted c;
  c.envelope.setVersion(7);
  c.envelope.initProposer().initVoteRequest().setTerm(3);
  CHECK(error_of(decode_proposer_message(c.bytes())) ==
        "unsupported protocol version 7, expected 1");
}

TEST_CASE("a message of the other direction") {
  const auto from_proposer = encode(core::ProposerMessage(core::VoteRequest{core::Term(4)}));
  const auto from_acceptor = encode(core::AcceptorMessage(core::AcceptorGreeting{}));
  CHECK(error_of(decode_acceptor_message(from_proposer)) ==
        "expected an acceptor message, got a proposer message");
  CHECK(error_of(decode_proposer_message(from_acceptor)) ==
        "expected a proposer message, got an acceptor message");
}

TEST_CASE("unknown union tags") {
  auto bytes = encode(core::ProposerMessage(core::VoteRequest{core::Term(4)}));
  REQUIRE(bytes[kEnvelopeWhichOffset] == 0);  // PROPOSER
  bytes[kEnvelopeWhichOffset] = 9;
  CHECK(error_of(decode_proposer_message(bytes)) == "Envelope: unknown direction tag 9");

  // The inner ProposerMessage follows the envelope's data word and pointer;
  // its only data is the discriminant.
  constexpr std::size_t kInnerWhichOffset = kEnvelopeWhichOffset - 4 + 16;
  auto inner = encode(core::ProposerMessage(core::VoteRequest{core::Term(4)}));
  REQUIRE(inner[kInnerWhichOffset] == 1);  // VOTE_REQUEST
  inner[kInnerWhichOffset] = 200;
  CHECK(error_of(decode_proposer_message(inner)) == "ProposerMessage: unknown message tag 200");
}

TEST_CASE("ids must be 16 bytes") {
  Crafted c;
  auto g = c.envelope.initProposer().initGreeting();
  const std::uint8_t three[3] = {1, 2, 3};
  const std::uint8_t sixteen[16] = {};
  g.setTenant(capnp::Data::Reader(three, 3));
  g.setTimeline(capnp::Data::Reader(sixteen, 16));
  CHECK(error_of(decode_proposer_message(c.bytes())) ==
        "ProposerGreeting.tenant: expected 16 bytes, got 3");
  g.setTenant(capnp::Data::Reader(sixteen, 16));
  g.disownTimeline();
  CHECK(error_of(decode_proposer_message(c.bytes())) ==
        "ProposerGreeting.timeline: expected 16 bytes, got 0");
}

TEST_CASE("unknown refuse reason") {
  Crafted c;
  c.envelope.initAcceptor().initRefused().setReason(static_cast<schema::RefuseReason>(42));
  CHECK(error_of(decode_acceptor_message(c.bytes())) ==
        "Refused.reason: unknown value 42, expected 0..7");
}

TEST_CASE("term histories must be ordered") {
  core::VoteResponse v;
  v.term_history = core::TermHistory({{core::Term(3), core::Lsn(10)}, {core::Term(3), core::Lsn(20)}});
  CHECK(error_of(decode_acceptor_message(encode(core::AcceptorMessage(v)))) ==
        "VoteResponse.termHistory: terms must strictly increase, entry 1 has term 3 after term 3");
  core::ProposerElected e;
  e.term_history = core::TermHistory({{core::Term(3), core::Lsn(20)}, {core::Term(4), core::Lsn(10)}});
  CHECK(error_of(decode_proposer_message(encode(core::ProposerMessage(e)))) ==
        "ProposerElected.termHistory: LSNs must not decrease, entry 1 has LSN 0/A after 0/14");
}

TEST_CASE("AppendRequest WAL size must match its LSN range") {
  core::AppendRequest a;
  a.begin_lsn = core::Lsn(100);
  a.end_lsn = core::Lsn(110);
  a.wal.resize(3);
  CHECK(error_of(decode_proposer_message(encode(core::ProposerMessage(a)))) ==
        "AppendRequest: wal is 3 bytes, but beginLsn 0/64 .. endLsn 0/6E spans 10 bytes");
  a.end_lsn = core::Lsn(90);
  CHECK(error_of(decode_proposer_message(encode(core::ProposerMessage(a)))) ==
        "AppendRequest: wal is 3 bytes, but beginLsn 0/64 .. endLsn 0/5A spans a negative range");
}

TEST_CASE("truncated, padded and misshapen payloads") {
  core::AppendRequest a;
  a.wal.assign(100, 7);
  a.end_lsn = core::Lsn(100);
  const auto bytes = encode(core::ProposerMessage(a));

  CHECK(error_of(decode_proposer_message({})) ==
        "message is 0 bytes, expected a positive multiple of 8");
  CHECK(error_of(decode_proposer_message(std::span(bytes).first(bytes.size() - 3))).find(
            "expected a positive multiple of 8") != std::string::npos);
  for (std::size_t cut = 8; cut < bytes.size(); cut += 8) {
    const std::string e = error_of(decode_proposer_message(std::span(bytes).first(cut)));
    CHECK(e.find("invalid Cap'n Proto message") == 0);
  }
  auto padded = bytes;
  padded.resize(bytes.size() + 16);
  CHECK(error_of(decode_proposer_message(padded)) == "16 trailing bytes after the message");
}

TEST_CASE("a message survives encode -> frame -> FrameReader -> decode") {
  Prng rng(5);
  std::vector<std::uint8_t> stream;
  std::vector<core::AcceptorMessage> sent;
  for (std::size_t i = 0; i < 50; ++i) {
    sent.push_back(testing::random_acceptor_message(rng, i));
    const auto frame = encode_frame(encode(sent.back()));
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  FrameReader reader;
  std::vector<core::AcceptorMessage> got;
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng.below(700), stream.size() - at);
    reader.feed(std::span(stream).subspan(at, n));
    at += n;
    for (;;) {
      auto frame = reader.next();
      REQUIRE(frame.has_value());
      if (!frame->has_value()) break;
      auto m = decode_acceptor_message(**frame);
      REQUIRE(m.has_value());
      got.push_back(std::move(*m));
    }
  }
  CHECK(got == sent);
}

// Random bytes, and valid encodings with random damage, must produce either a
// message or a kMalformedMessage error: no crash, no exception, no assert.
TEST_CASE("10,000 garbage inputs never crash") {
  Prng rng(6);
  std::size_t decoded = 0;
  for (std::size_t i = 0; i < 10000; ++i) {
    std::vector<std::uint8_t> input;
    if (i % 2 == 0) {
      input = rng.bytes(rng.below(4) == 0 ? rng.below(9) : 8 * rng.below(40));
    } else {
      input = (i % 4 == 1) ? encode(testing::random_proposer_message(rng, i / 4))
                           : encode(testing::random_acceptor_message(rng, i / 4));
      const std::size_t flips = 1 + rng.below(6);
      for (std::size_t f = 0; f < flips && !input.empty(); ++f) {
        input[rng.below(input.size())] = static_cast<std::uint8_t>(rng.next());
      }
    }
    auto p = decode_proposer_message(input);
    auto a = decode_acceptor_message(input);
    for (const base::Error* e : {p.has_value() ? nullptr : &p.error(),
                                 a.has_value() ? nullptr : &a.error()}) {
      if (e == nullptr) continue;
      CHECK(e->code == base::ErrorCode::kMalformedMessage);
      CHECK(!e->message.empty());
    }
    // Whatever decodes must encode again and decode to the same thing.
    if (p.has_value()) {
      ++decoded;
      auto again = decode_proposer_message(encode(*p));
      REQUIRE(again.has_value());
      CHECK(*again == *p);
    }
    if (a.has_value()) {
      ++decoded;
      auto again = decode_acceptor_message(encode(*a));
      REQUIRE(again.has_value());
      CHECK(*again == *a);
    }
  }
  MESSAGE(decoded, " of 20000 decode attempts produced a message");
}

}  // namespace
}  // namespace wq::codec
