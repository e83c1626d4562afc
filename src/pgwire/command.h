// The replication command language of a physical walsender (reference §3.5):
// the text of a Query message on a replication=true connection. Keywords are
// upper case only, as PostgreSQL's scanner has them; identifiers (slot names,
// the parameter after SHOW) are lower-cased unless double-quoted; a trailing
// ';' is allowed; an LSN is written hex/hex. Part of src/pgwire's pure layer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/result.h"
#include "wal/lsn.h"

namespace wq::pgwire {

inline constexpr std::size_t kSlotNameBytesMax = 63;  // NAMEDATALEN - 1

struct IdentifySystem {};
struct Show {
  std::string name;  // lower case unless it was quoted
};
struct TimelineHistory {
  std::uint32_t tli = 0;  // never 0
};
struct ReadReplicationSlot {
  std::string slot;
};
struct StartReplication {
  std::optional<std::string> slot;
  wal::Lsn start;
  std::optional<std::uint32_t> tli;  // never 0
};
struct CreateReplicationSlot {
  std::string slot;
  bool temporary = false;
  bool reserve_wal = false;
};
struct DropReplicationSlot {
  std::string slot;
  bool wait = false;
};
using Command = std::variant<IdentifySystem, Show, TimelineHistory, ReadReplicationSlot,
                             StartReplication, CreateReplicationSlot, DropReplicationSlot>;

// Parses one command. Errors, each with a one-line message:
//  - kUnsupported: not a replication command (SQL, a lower-case keyword, an
//    empty string), or a replication command this server does not serve
//    (BASE_BACKUP, logical replication); PostgreSQL answers both with 0A000;
//  - kInvalidArgument: a replication command with a syntax error (42601), or
//    a slot name outside [a-z0-9_]{1,63} (42602).
base::Result<Command> parse_command(std::string_view text);

// Which SQLSTATE the session sends for a parse_command error.
const char* command_error_sqlstate(const base::Error& error);

}  // namespace wq::pgwire
