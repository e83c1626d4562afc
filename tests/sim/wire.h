// Every simulated message crosses the wire as bytes: encoded by the real codec
// (src/codec) when sent and decoded when delivered, so the codec's round trip is
// exercised by every step. Without the codec (WQ_SIM_HAVE_CODEC unset, while it
// was being written) messages are carried as copies.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/messages.h"

#ifdef WQ_SIM_HAVE_CODEC
#include "codec/messages.h"
#endif

namespace wq::sim {

#ifdef WQ_SIM_HAVE_CODEC
using Wire = std::vector<std::uint8_t>;
inline Wire to_wire(const core::ProposerMessage& m) { return codec::encode(m); }
inline Wire to_wire(const core::AcceptorMessage& m) { return codec::encode(m); }
// False (with `error` set) if the codec refuses its own encoding: a codec bug.
inline bool from_wire(const Wire& w, core::ProposerMessage& out, std::string& error) {
  auto r = codec::decode_proposer_message(w);
  if (!r) {
    error = r.error().message;
    return false;
  }
  out = std::move(r).value();
  return true;
}
inline bool from_wire(const Wire& w, core::AcceptorMessage& out, std::string& error) {
  auto r = codec::decode_acceptor_message(w);
  if (!r) {
    error = r.error().message;
    return false;
  }
  out = std::move(r).value();
  return true;
}
inline std::size_t wire_size(const Wire& w) { return w.size(); }
#else
using Wire = std::variant<core::ProposerMessage, core::AcceptorMessage>;
inline Wire to_wire(const core::ProposerMessage& m) { return Wire(std::in_place_index<0>, m); }
inline Wire to_wire(const core::AcceptorMessage& m) { return Wire(std::in_place_index<1>, m); }
inline bool from_wire(const Wire& w, core::ProposerMessage& out, std::string&) {
  out = std::get<0>(w);
  return true;
}
inline bool from_wire(const Wire& w, core::AcceptorMessage& out, std::string&) {
  out = std::get<1>(w);
  return true;
}
inline std::size_t wire_size(const Wire&) { return 64; }
#endif

}  // namespace wq::sim
