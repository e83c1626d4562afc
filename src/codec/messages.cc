// Core message structs <-> Cap'n Proto Envelope. See messages.h. This is the
// only file in the tree that includes Cap'n Proto; kj::Exception never leaves it.
#include "codec/messages.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <kj/exception.h>

#include "base/assert.h"
#include "codec/frame.h"
#include "walquorum.capnp.h"

namespace wq::codec {
namespace {

using base::ErrorCode;
using base::Unexpected;
namespace schema = ::wq::schema;

constexpr std::size_t kWordBytes = sizeof(capnp::word);
// One segment: [u32 segment count - 1][u32 segment 0 size in words].
constexpr std::size_t kSegmentTableBytes = 8;

// Reader limits for untrusted input. Our messages are at most four levels deep
// (Envelope > ProposerMessage > VoteResponse > List(TermSwitch)); the traversal
// limit is set per message from its size, which stops amplification through
// shared pointers.
constexpr int kNestingLimit = 8;
constexpr std::uint64_t kTraversalSlackWords = 1024;

Unexpected malformed(std::string message) {
  return Unexpected(ErrorCode::kMalformedMessage, std::move(message));
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

// ---------------------------------------------------------------------------
// Encoding

// A MessageBuilder whose first segment lives inside the output vector, right
// after room for a one-segment table, so a message that fits (the usual case:
// the size is estimated beforehand) is serialised without another copy.
class VectorMessageBuilder final : public capnp::MessageBuilder {
 public:
  explicit VectorMessageBuilder(std::size_t first_segment_words)
      : first_segment_words_(first_segment_words) {}

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override {
    if (first_ == nullptr) {
      const std::size_t words = std::max<std::size_t>(minimum_words, first_segment_words_);
      out_.assign(kSegmentTableBytes + words * kWordBytes, 0);  // capnp needs zeroed space
      first_ = reinterpret_cast<capnp::word*>(out_.data() + kSegmentTableBytes);
      WQ_ASSERT(reinterpret_cast<std::uintptr_t>(first_) % kWordBytes == 0,
                "vector storage is not 8-byte aligned");
      return kj::arrayPtr(first_, words);
    }
    auto& extra = extra_.emplace_back(new std::uint64_t[minimum_words]());
    return kj::arrayPtr(reinterpret_cast<capnp::word*>(extra.get()), minimum_words);
  }

  // The serialised message. Call once, after building.
  std::vector<std::uint8_t> take() {
    const auto segments = getSegmentsForOutput();
    if (segments.size() == 1 && segments[0].begin() == first_) {
      const auto words = static_cast<std::uint32_t>(segments[0].size());
      const std::uint8_t table[kSegmentTableBytes] = {
          0, 0, 0, 0,  // segment count - 1
          static_cast<std::uint8_t>(words), static_cast<std::uint8_t>(words >> 8),
          static_cast<std::uint8_t>(words >> 16), static_cast<std::uint8_t>(words >> 24)};
      std::memcpy(out_.data(), table, sizeof(table));
      out_.resize(kSegmentTableBytes + words * kWordBytes);
      return std::move(out_);
    }
    // The estimate was short: fall back to Cap'n Proto's multi-segment layout.
    const kj::Array<capnp::word> flat = capnp::messageToFlatArray(segments);
    const auto bytes = flat.asBytes();
    return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  }

 private:
  std::size_t first_segment_words_;
  std::vector<std::uint8_t> out_;
  capnp::word* first_ = nullptr;
  std::vector<std::unique_ptr<std::uint64_t[]>> extra_;
};

std::size_t words_for_bytes(std::size_t bytes) { return (bytes + kWordBytes - 1) / kWordBytes; }

// Generous upper bound of a message's size in words: fixed structs and
// pointers, plus its variable parts.
constexpr std::size_t kFixedWordsEstimate = 48;
std::size_t history_words(const core::TermHistory& h) { return 1 + 2 * h.size(); }

std::size_t estimate_words(const core::ProposerMessage& message) {
  return kFixedWordsEstimate + std::visit(
      [](const auto& m) -> std::size_t {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, core::ProposerGreeting>) return 4;
        if constexpr (std::is_same_v<T, core::ProposerElected>) return history_words(m.term_history);
        if constexpr (std::is_same_v<T, core::AppendRequest>) return words_for_bytes(m.wal.size());
        return 0;
      },
      message);
}

std::size_t estimate_words(const core::AcceptorMessage& message) {
  return kFixedWordsEstimate + std::visit(
      [](const auto& m) -> std::size_t {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, core::VoteResponse>) return history_words(m.term_history);
        if constexpr (std::is_same_v<T, core::ReadWalResponse>) return words_for_bytes(m.wal.size());
        if constexpr (std::is_same_v<T, core::PeerFetchResponse>) {
          return history_words(m.term_history) + words_for_bytes(m.wal.size());
        }
        if constexpr (std::is_same_v<T, core::Refused>) return words_for_bytes(m.detail.size() + 1);
        return 0;
      },
      message);
}

capnp::Data::Reader as_data(std::span<const std::uint8_t> bytes) {
  return capnp::Data::Reader(bytes.data(), bytes.size());
}

void set_history(capnp::List<schema::TermSwitch>::Builder out, const core::TermHistory& history) {
  const auto& entries = history.entries();
  for (unsigned i = 0; i < entries.size(); ++i) {
    out[i].setTerm(entries[i].term.value());
    out[i].setLsn(entries[i].lsn.value());
  }
}

schema::RefuseReason to_schema(core::RefuseReason reason) {
  switch (reason) {
    case core::RefuseReason::kStaleTerm: return schema::RefuseReason::STALE_TERM;
    case core::RefuseReason::kNotElected: return schema::RefuseReason::NOT_ELECTED;
    case core::RefuseReason::kTermMismatch: return schema::RefuseReason::TERM_MISMATCH;
    case core::RefuseReason::kHistoryMismatch: return schema::RefuseReason::HISTORY_MISMATCH;
    case core::RefuseReason::kWrongTimeline: return schema::RefuseReason::WRONG_TIMELINE;
    case core::RefuseReason::kNotServing: return schema::RefuseReason::NOT_SERVING;
    case core::RefuseReason::kCorrupt: return schema::RefuseReason::CORRUPT;
    case core::RefuseReason::kNoSpace: return schema::RefuseReason::NO_SPACE;
  }
  WQ_ASSERT(false, "unknown RefuseReason {}", static_cast<int>(reason));
}

void build(schema::ProposerMessage::Builder out, const core::ProposerMessage& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, core::ProposerGreeting>) {
          auto b = out.initGreeting();
          b.setProtocolVersion(m.protocol_version);
          b.setTenant(as_data(m.timeline.tenant.bytes));
          b.setTimeline(as_data(m.timeline.timeline.bytes));
          b.setPgVersion(m.pg_version);
          b.setSystemId(m.system_id);
          b.setWalSegSize(m.wal_seg_size);
          b.setProposerId(m.proposer_id.value());
        } else if constexpr (std::is_same_v<T, core::VoteRequest>) {
          out.initVoteRequest().setTerm(m.term.value());
        } else if constexpr (std::is_same_v<T, core::ProposerElected>) {
          auto b = out.initProposerElected();
          b.setTerm(m.term.value());
          b.setStartStreamingAt(m.start_streaming_at.value());
          set_history(b.initTermHistory(static_cast<unsigned>(m.term_history.size())),
                      m.term_history);
          b.setTimelineStartLsn(m.timeline_start_lsn.value());
        } else if constexpr (std::is_same_v<T, core::AppendRequest>) {
          auto b = out.initAppendRequest();
          b.setTerm(m.term.value());
          b.setBeginLsn(m.begin_lsn.value());
          b.setEndLsn(m.end_lsn.value());
          b.setCommitLsn(m.commit_lsn.value());
          b.setTruncateLsn(m.truncate_lsn.value());
          b.setWal(as_data(m.wal));
        } else if constexpr (std::is_same_v<T, core::ReadWalRequest>) {
          auto b = out.initReadWalRequest();
          b.setTerm(m.term.value());
          b.setFromLsn(m.from_lsn.value());
          b.setToLsn(m.to_lsn.value());
        } else {
          static_assert(std::is_same_v<T, core::PeerFetchRequest>);
          auto b = out.initPeerFetchRequest();
          b.setFromLsn(m.from_lsn.value());
          b.setMaxBytes(m.max_bytes);
        }
      },
      message);
}

void build(schema::AcceptorMessage::Builder out, const core::AcceptorMessage& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, core::AcceptorGreeting>) {
          auto b = out.initGreeting();
          b.setNodeId(m.node_id.value());
          b.setTerm(m.term.value());
        } else if constexpr (std::is_same_v<T, core::VoteResponse>) {
          auto b = out.initVoteResponse();
          b.setTerm(m.term.value());
          b.setVoteGiven(m.vote_given);
          b.setFlushLsn(m.flush_lsn.value());
          b.setTruncateLsn(m.truncate_lsn.value());
          b.setTimelineStartLsn(m.timeline_start_lsn.value());
          set_history(b.initTermHistory(static_cast<unsigned>(m.term_history.size())),
                      m.term_history);
        } else if constexpr (std::is_same_v<T, core::AppendResponse>) {
          auto b = out.initAppendResponse();
          b.setTerm(m.term.value());
          b.setFlushLsn(m.flush_lsn.value());
          b.setCommitLsn(m.commit_lsn.value());
          b.initFeedback().setLearnerFlushLsn(m.feedback.learner_flush_lsn.value());
        } else if constexpr (std::is_same_v<T, core::ReadWalResponse>) {
          auto b = out.initReadWalResponse();
          b.setTerm(m.term.value());
          b.setBeginLsn(m.begin_lsn.value());
          b.setWal(as_data(m.wal));
        } else if constexpr (std::is_same_v<T, core::PeerFetchResponse>) {
          auto b = out.initPeerFetchResponse();
          b.setTerm(m.term.value());
          b.setCommitLsn(m.commit_lsn.value());
          set_history(b.initTermHistory(static_cast<unsigned>(m.term_history.size())),
                      m.term_history);
          b.setBeginLsn(m.begin_lsn.value());
          b.setWal(as_data(m.wal));
        } else {
          static_assert(std::is_same_v<T, core::Refused>);
          auto b = out.initRefused();
          b.setTerm(m.term.value());
          b.setReason(to_schema(m.reason));
          b.setDetail(capnp::Text::Reader(m.detail.c_str(), m.detail.size()));
        }
      },
      message);
}

template <typename Message>
std::vector<std::uint8_t> encode_envelope(const Message& message) {
  std::vector<std::uint8_t> out;
  try {
    VectorMessageBuilder builder(estimate_words(message));
    auto envelope = builder.initRoot<schema::Envelope>();
    envelope.setVersion(core::kProtocolVersion);
    if constexpr (std::is_same_v<Message, core::ProposerMessage>) {
      build(envelope.initProposer(), message);
    } else {
      build(envelope.initAcceptor(), message);
    }
    out = builder.take();
  } catch (const kj::Exception& e) {
    // Building only fails on sizes far beyond kFrameBytesMax: a sender bug.
    WQ_ASSERT(false, "Cap'n Proto failed to encode {}: {}", message_name(message),
              one_line(e.getDescription().cStr()));
  }
  WQ_ASSERT(out.size() <= kFrameBytesMax, "encoded {} is {} bytes, maximum {}",
            message_name(message), out.size(), kFrameBytesMax);
  return out;
}

// ---------------------------------------------------------------------------
// Decoding

base::Result<core::Id128> read_id(capnp::Data::Reader data, const char* field) {
  core::Id128 id;
  if (data.size() != id.bytes.size()) {
    return malformed(fmt::format("{}: expected {} bytes, got {}", field, id.bytes.size(),
                                 data.size()));
  }
  std::memcpy(id.bytes.data(), data.begin(), id.bytes.size());
  return id;
}

std::vector<std::uint8_t> read_bytes(capnp::Data::Reader data) {
  return std::vector<std::uint8_t>(data.begin(), data.end());
}

// core::TermHistory asserts its invariant, so a bad history from the network
// is stopped here.
base::Result<core::TermHistory> read_history(capnp::List<schema::TermSwitch>::Reader list,
                                             const char* field) {
  std::vector<core::TermSwitch> entries;
  entries.reserve(list.size());
  for (unsigned i = 0; i < list.size(); ++i) {
    const core::TermSwitch entry{core::Term(list[i].getTerm()), core::Lsn(list[i].getLsn())};
    if (!entries.empty()) {
      const core::TermSwitch& prev = entries.back();
      if (entry.term <= prev.term) {
        return malformed(fmt::format("{}: terms must strictly increase, entry {} has term {} "
                                     "after term {}",
                                     field, i, entry.term, prev.term));
      }
      if (entry.lsn < prev.lsn) {
        return malformed(fmt::format("{}: LSNs must not decrease, entry {} has LSN {} after {}",
                                     field, i, entry.lsn, prev.lsn));
      }
    }
    entries.push_back(entry);
  }
  return core::TermHistory(std::move(entries));
}

base::Result<core::RefuseReason> read_reason(schema::RefuseReason reason) {
  switch (reason) {
    case schema::RefuseReason::STALE_TERM: return core::RefuseReason::kStaleTerm;
    case schema::RefuseReason::NOT_ELECTED: return core::RefuseReason::kNotElected;
    case schema::RefuseReason::TERM_MISMATCH: return core::RefuseReason::kTermMismatch;
    case schema::RefuseReason::HISTORY_MISMATCH: return core::RefuseReason::kHistoryMismatch;
    case schema::RefuseReason::WRONG_TIMELINE: return core::RefuseReason::kWrongTimeline;
    case schema::RefuseReason::NOT_SERVING: return core::RefuseReason::kNotServing;
    case schema::RefuseReason::CORRUPT: return core::RefuseReason::kCorrupt;
    case schema::RefuseReason::NO_SPACE: return core::RefuseReason::kNoSpace;
  }
  return malformed(fmt::format("Refused.reason: unknown value {}, expected 0..7",
                               static_cast<unsigned>(reason)));
}

base::Result<core::ProposerMessage> read_proposer(schema::ProposerMessage::Reader m) {
  switch (m.which()) {
    case schema::ProposerMessage::GREETING: {
      const auto r = m.getGreeting();
      core::ProposerGreeting g;
      auto tenant = read_id(r.getTenant(), "ProposerGreeting.tenant");
      if (!tenant) return Unexpected(tenant.error());
      auto timeline = read_id(r.getTimeline(), "ProposerGreeting.timeline");
      if (!timeline) return Unexpected(timeline.error());
      g.protocol_version = r.getProtocolVersion();
      g.timeline = core::TimelineKey{*tenant, *timeline};
      g.pg_version = r.getPgVersion();
      g.system_id = r.getSystemId();
      g.wal_seg_size = r.getWalSegSize();
      g.proposer_id = core::NodeId(r.getProposerId());
      return core::ProposerMessage(std::move(g));
    }
    case schema::ProposerMessage::VOTE_REQUEST: {
      return core::ProposerMessage(core::VoteRequest{core::Term(m.getVoteRequest().getTerm())});
    }
    case schema::ProposerMessage::PROPOSER_ELECTED: {
      const auto r = m.getProposerElected();
      auto history = read_history(r.getTermHistory(), "ProposerElected.termHistory");
      if (!history) return Unexpected(history.error());
      core::ProposerElected e;
      e.term = core::Term(r.getTerm());
      e.start_streaming_at = core::Lsn(r.getStartStreamingAt());
      e.term_history = std::move(*history);
      e.timeline_start_lsn = core::Lsn(r.getTimelineStartLsn());
      return core::ProposerMessage(std::move(e));
    }
    case schema::ProposerMessage::APPEND_REQUEST: {
      const auto r = m.getAppendRequest();
      const auto wal = r.getWal();
      if (r.getEndLsn() < r.getBeginLsn() || r.getEndLsn() - r.getBeginLsn() != wal.size()) {
        return malformed(fmt::format(
            "AppendRequest: wal is {} bytes, but beginLsn {} .. endLsn {} spans {}", wal.size(),
            core::Lsn(r.getBeginLsn()), core::Lsn(r.getEndLsn()),
            r.getEndLsn() < r.getBeginLsn() ? std::string("a negative range")
                                            : fmt::format("{} bytes", r.getEndLsn() - r.getBeginLsn())));
      }
      core::AppendRequest a;
      a.term = core::Term(r.getTerm());
      a.begin_lsn = core::Lsn(r.getBeginLsn());
      a.end_lsn = core::Lsn(r.getEndLsn());
      a.commit_lsn = core::Lsn(r.getCommitLsn());
      a.truncate_lsn = core::Lsn(r.getTruncateLsn());
      a.wal = read_bytes(wal);
      return core::ProposerMessage(std::move(a));
    }
    case schema::ProposerMessage::READ_WAL_REQUEST: {
      const auto r = m.getReadWalRequest();
      return core::ProposerMessage(core::ReadWalRequest{
          core::Term(r.getTerm()), core::Lsn(r.getFromLsn()), core::Lsn(r.getToLsn())});
    }
    case schema::ProposerMessage::PEER_FETCH_REQUEST: {
      const auto r = m.getPeerFetchRequest();
      return core::ProposerMessage(
          core::PeerFetchRequest{core::Lsn(r.getFromLsn()), r.getMaxBytes()});
    }
  }
  return malformed(fmt::format("ProposerMessage: unknown message tag {}",
                               static_cast<unsigned>(m.which())));
}

base::Result<core::AcceptorMessage> read_acceptor(schema::AcceptorMessage::Reader m) {
  switch (m.which()) {
    case schema::AcceptorMessage::GREETING: {
      const auto r = m.getGreeting();
      return core::AcceptorMessage(
          core::AcceptorGreeting{core::NodeId(r.getNodeId()), core::Term(r.getTerm())});
    }
    case schema::AcceptorMessage::VOTE_RESPONSE: {
      const auto r = m.getVoteResponse();
      auto history = read_history(r.getTermHistory(), "VoteResponse.termHistory");
      if (!history) return Unexpected(history.error());
      core::VoteResponse v;
      v.term = core::Term(r.getTerm());
      v.vote_given = r.getVoteGiven();
      v.flush_lsn = core::Lsn(r.getFlushLsn());
      v.truncate_lsn = core::Lsn(r.getTruncateLsn());
      v.timeline_start_lsn = core::Lsn(r.getTimelineStartLsn());
      v.term_history = std::move(*history);
      return core::AcceptorMessage(std::move(v));
    }
    case schema::AcceptorMessage::APPEND_RESPONSE: {
      const auto r = m.getAppendResponse();
      core::AppendResponse a;
      a.term = core::Term(r.getTerm());
      a.flush_lsn = core::Lsn(r.getFlushLsn());
      a.commit_lsn = core::Lsn(r.getCommitLsn());
      a.feedback.learner_flush_lsn = core::Lsn(r.getFeedback().getLearnerFlushLsn());
      return core::AcceptorMessage(std::move(a));
    }
    case schema::AcceptorMessage::READ_WAL_RESPONSE: {
      const auto r = m.getReadWalResponse();
      core::ReadWalResponse w;
      w.term = core::Term(r.getTerm());
      w.begin_lsn = core::Lsn(r.getBeginLsn());
      w.wal = read_bytes(r.getWal());
      return core::AcceptorMessage(std::move(w));
    }
    case schema::AcceptorMessage::PEER_FETCH_RESPONSE: {
      const auto r = m.getPeerFetchResponse();
      auto history = read_history(r.getTermHistory(), "PeerFetchResponse.termHistory");
      if (!history) return Unexpected(history.error());
      core::PeerFetchResponse p;
      p.term = core::Term(r.getTerm());
      p.commit_lsn = core::Lsn(r.getCommitLsn());
      p.term_history = std::move(*history);
      p.begin_lsn = core::Lsn(r.getBeginLsn());
      p.wal = read_bytes(r.getWal());
      return core::AcceptorMessage(std::move(p));
    }
    case schema::AcceptorMessage::REFUSED: {
      const auto r = m.getRefused();
      auto reason = read_reason(r.getReason());
      if (!reason) return Unexpected(reason.error());
      const auto detail = r.getDetail();
      return core::AcceptorMessage(
          core::Refused{core::Term(r.getTerm()), *reason, std::string(detail.begin(), detail.end())});
    }
  }
  return malformed(fmt::format("AcceptorMessage: unknown message tag {}",
                               static_cast<unsigned>(m.which())));
}

// Validates the framing of a payload as one Cap'n Proto message holding an
// Envelope of the current version and the expected direction, then converts it.
template <typename Message>
base::Result<Message> decode_envelope(std::span<const std::uint8_t> payload) {
  constexpr bool kProposer = std::is_same_v<Message, core::ProposerMessage>;
  if (payload.empty() || payload.size() % kWordBytes != 0) {
    return malformed(fmt::format("message is {} bytes, expected a positive multiple of {}",
                                 payload.size(), kWordBytes));
  }
  const std::size_t words = payload.size() / kWordBytes;
  // Cap'n Proto reads words in place; a payload off an 8-byte boundary is copied.
  std::unique_ptr<std::uint64_t[]> aligned_copy;
  const void* start = payload.data();
  if (reinterpret_cast<std::uintptr_t>(start) % kWordBytes != 0) {
    aligned_copy.reset(new std::uint64_t[words]);
    std::memcpy(aligned_copy.get(), payload.data(), payload.size());
    start = aligned_copy.get();
  }
  const auto* begin = static_cast<const capnp::word*>(start);

  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = 4 * words + kTraversalSlackWords;
    options.nestingLimit = kNestingLimit;
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(begin, words), options);
    if (reader.getEnd() != begin + words) {
      return malformed(fmt::format("{} trailing bytes after the message",
                                   (begin + words - reader.getEnd()) * kWordBytes));
    }
    const auto envelope = reader.getRoot<schema::Envelope>();
    if (envelope.getVersion() != core::kProtocolVersion) {
      return malformed(fmt::format("unsupported protocol version {}, expected {}",
                                   envelope.getVersion(), core::kProtocolVersion));
    }
    switch (envelope.which()) {
      case schema::Envelope::PROPOSER:
        if constexpr (kProposer) {
          return read_proposer(envelope.getProposer());
        } else {
          return malformed("expected an acceptor message, got a proposer message");
        }
      case schema::Envelope::ACCEPTOR:
        if constexpr (kProposer) {
          return malformed("expected a proposer message, got an acceptor message");
        } else {
          return read_acceptor(envelope.getAcceptor());
        }
    }
    return malformed(fmt::format("Envelope: unknown direction tag {}",
                                 static_cast<unsigned>(envelope.which())));
  } catch (const kj::Exception& e) {
    return malformed(fmt::format("invalid Cap'n Proto message: {}",
                                 one_line(e.getDescription().cStr())));
  } catch (const std::bad_alloc&) {
    return malformed(fmt::format("out of memory decoding a {}-byte message", payload.size()));
  } catch (...) {
    return malformed("invalid Cap'n Proto message: unexpected exception");
  }
}

}  // namespace

std::vector<std::uint8_t> encode(const core::ProposerMessage& message) {
  return encode_envelope(message);
}

std::vector<std::uint8_t> encode(const core::AcceptorMessage& message) {
  return encode_envelope(message);
}

base::Result<core::ProposerMessage> decode_proposer_message(std::span<const std::uint8_t> payload) {
  return decode_envelope<core::ProposerMessage>(payload);
}

base::Result<core::AcceptorMessage> decode_acceptor_message(std::span<const std::uint8_t> payload) {
  return decode_envelope<core::AcceptorMessage>(payload);
}

const char* message_name(const core::ProposerMessage& message) {
  static constexpr const char* kNames[] = {"ProposerGreeting", "VoteRequest",
                                           "ProposerElected",  "AppendRequest",
                                           "ReadWalRequest",   "PeerFetchRequest"};
  static_assert(std::size(kNames) == std::variant_size_v<core::ProposerMessage>);
  return kNames[message.index()];
}

const char* message_name(const core::AcceptorMessage& message) {
  static constexpr const char* kNames[] = {"AcceptorGreeting", "VoteResponse",
                                           "AppendResponse",   "ReadWalResponse",
                                           "PeerFetchResponse", "Refused"};
  static_assert(std::size(kNames) == std::variant_size_v<core::AcceptorMessage>);
  return kNames[message.index()];
}

}  // namespace wq::codec
