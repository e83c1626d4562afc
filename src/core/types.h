// Strong protocol numbers for the consensus core: Term, NodeId, and the
// 16-byte tenant and timeline ids. Lsn comes from wal/lsn.h so that one LSN
// type crosses every layer. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/result.h"
#include "base/strong.h"
#include "wal/lsn.h"

namespace wq::core {

using wal::Lsn;

struct TermTag {};
struct NodeIdTag {};

// A Paxos term (ballot). 0 means "no term yet".
using Term = base::Strong<TermTag, std::uint64_t>;
// Safekeeper (acceptor) or proposer identity.
using NodeId = base::Strong<NodeIdTag, std::uint64_t>;

// 16-byte id written as 32 lower-case hex digits (tenants and timelines).
struct Id128 {
  std::array<std::uint8_t, 16> bytes{};
  auto operator<=>(const Id128&) const = default;
  std::string to_hex() const;
  static base::Result<Id128> parse_hex(std::string_view text);
};

struct TenantTag {};
struct TimelineTag {};

// A timeline is (tenant_id, timeline_id); each is one independent consensus instance.
struct TimelineKey {
  Id128 tenant;
  Id128 timeline;
  auto operator<=>(const TimelineKey&) const = default;
  std::string to_string() const { return tenant.to_hex() + "/" + timeline.to_hex(); }
};

}  // namespace wq::core

template <>
struct fmt::formatter<wq::core::Term> : fmt::formatter<std::uint64_t> {
  template <typename Ctx>
  auto format(const wq::core::Term& t, Ctx& ctx) const {
    return fmt::formatter<std::uint64_t>::format(t.value(), ctx);
  }
};
template <>
struct fmt::formatter<wq::core::NodeId> : fmt::formatter<std::uint64_t> {
  template <typename Ctx>
  auto format(const wq::core::NodeId& t, Ctx& ctx) const {
    return fmt::formatter<std::uint64_t>::format(t.value(), ctx);
  }
};
