// Unit tests for src/pgwire/command.h: the replication command grammar,
// PostgreSQL's case rules and the errors for everything else.
#include "pgwire/command.h"

#include <doctest/doctest.h>

namespace wq::pgwire {
namespace {

template <typename T>
T parse_as(std::string_view text) {
  auto c = parse_command(text);
  INFO(text);
  REQUIRE_MESSAGE(c.has_value(), (c.has_value() ? std::string() : c.error().message));
  REQUIRE(std::holds_alternative<T>(*c));
  return std::get<T>(*c);
}

base::Error parse_error(std::string_view text) {
  auto c = parse_command(text);
  INFO(text);
  REQUIRE(!c.has_value());
  return c.error();
}

TEST_CASE("IDENTIFY_SYSTEM, with spaces and a trailing semicolon") {
  parse_as<IdentifySystem>("IDENTIFY_SYSTEM");
  parse_as<IdentifySystem>("  IDENTIFY_SYSTEM ;");
  parse_as<IdentifySystem>("IDENTIFY_SYSTEM;\n");
  CHECK(parse_error("IDENTIFY_SYSTEM x").code == base::ErrorCode::kInvalidArgument);
}

TEST_CASE("keywords are upper case only; anything else is SQL") {
  for (auto text : {"identify_system", "Identify_System", "SELECT 1", "", "   ", ";", "show x",
                    "start_replication 0/0", "\"IDENTIFY_SYSTEM\"", "12", "0/0", "$$"}) {
    auto e = parse_error(text);
    CHECK(e.code == base::ErrorCode::kUnsupported);
    CHECK(e.message.find("cannot execute SQL commands in WAL sender") != std::string::npos);
    CHECK(std::string(command_error_sqlstate(e)) == "0A000");
  }
}

TEST_CASE("SHOW: identifiers lower-cased unless quoted, dotted names") {
  CHECK(parse_as<Show>("SHOW wal_segment_size").name == "wal_segment_size");
  CHECK(parse_as<Show>("SHOW WAL_SEGMENT_SIZE;").name == "wal_segment_size");
  CHECK(parse_as<Show>("SHOW \"Mixed\"\"Q\"").name == "Mixed\"Q");
  CHECK(parse_as<Show>("SHOW a.B").name == "a.b");
  CHECK(parse_error("SHOW").message.find("a parameter name expected") != std::string::npos);
  CHECK(parse_error("SHOW a b").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("SHOW \"\"").message.find("zero-length") != std::string::npos);
  CHECK(parse_error("SHOW \"abc").message.find("unterminated") != std::string::npos);
}

TEST_CASE("TIMELINE_HISTORY") {
  CHECK(parse_as<TimelineHistory>("TIMELINE_HISTORY 2").tli == 2);
  CHECK(parse_as<TimelineHistory>("TIMELINE_HISTORY 4294967295").tli == 4294967295u);
  auto zero = parse_error("TIMELINE_HISTORY 0");
  CHECK(zero.message.find("invalid timeline 0") != std::string::npos);
  CHECK(std::string(command_error_sqlstate(zero)) == "42601");
  CHECK(parse_error("TIMELINE_HISTORY 4294967296").message.find("out of range") != std::string::npos);
  CHECK(parse_error("TIMELINE_HISTORY").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("TIMELINE_HISTORY x").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("TIMELINE_HISTORY -1").code == base::ErrorCode::kInvalidArgument);
}

TEST_CASE("READ_REPLICATION_SLOT: pg_receivewal sends the name unquoted") {
  CHECK(parse_as<ReadReplicationSlot>("READ_REPLICATION_SLOT MySlot").slot == "myslot");
  CHECK(parse_as<ReadReplicationSlot>("READ_REPLICATION_SLOT \"s_1\"").slot == "s_1");
  auto bad = parse_error("READ_REPLICATION_SLOT \"Bad\"");
  CHECK(bad.message.find("contains invalid character") != std::string::npos);
  CHECK(std::string(command_error_sqlstate(bad)) == "42602");
  CHECK(parse_error("READ_REPLICATION_SLOT " + std::string(64, 'a')).message.find("too long") !=
        std::string::npos);
  parse_as<ReadReplicationSlot>("READ_REPLICATION_SLOT " + std::string(63, 'a'));
}

TEST_CASE("START_REPLICATION in every form the clients send") {
  auto a = parse_as<StartReplication>("START_REPLICATION 0/1000000");
  CHECK(!a.slot);
  CHECK(a.start == wal::Lsn(0x1000000));
  CHECK(!a.tli);
  auto b = parse_as<StartReplication>("START_REPLICATION SLOT \"s1\" 1/ABCDEF00 TIMELINE 3");
  CHECK(*b.slot == "s1");
  CHECK(b.start == wal::Lsn((1ull << 32) | 0xABCDEF00));
  CHECK(*b.tli == 3);
  auto c = parse_as<StartReplication>("START_REPLICATION SLOT s PHYSICAL abc/def;");
  CHECK(*c.slot == "s");
  CHECK(c.start == wal::Lsn((0xABCull << 32) | 0xDEF));
  auto d = parse_as<StartReplication>("START_REPLICATION PHYSICAL 0/0 TIMELINE 1");
  CHECK(d.start == wal::Lsn(0));
  CHECK(*d.tli == 1);

  CHECK(parse_error("START_REPLICATION").message.find("a start position X/Y expected") !=
        std::string::npos);
  CHECK(parse_error("START_REPLICATION foo").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("START_REPLICATION 0/0 TIMELINE").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("START_REPLICATION 0/0 TIMELINE 0").message.find("invalid timeline 0") !=
        std::string::npos);
  CHECK(parse_error("START_REPLICATION 0/0 extra").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("START_REPLICATION 123456789/0").message.find("invalid start position") !=
        std::string::npos);
  CHECK(parse_error("START_REPLICATION SLOT 0/0").code == base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("start_replication 0/0").code == base::ErrorCode::kUnsupported);
  auto logical = parse_error("START_REPLICATION SLOT s LOGICAL 0/0");
  CHECK(logical.code == base::ErrorCode::kUnsupported);
  CHECK(logical.message.find("logical replication is not supported") != std::string::npos);
}

TEST_CASE("CREATE_REPLICATION_SLOT and DROP_REPLICATION_SLOT, both option syntaxes") {
  auto a = parse_as<CreateReplicationSlot>("CREATE_REPLICATION_SLOT \"pg_walreceiver_7\" TEMPORARY "
                                           "PHYSICAL (RESERVE_WAL)");
  CHECK(a.slot == "pg_walreceiver_7");
  CHECK(a.temporary);
  CHECK(a.reserve_wal);
  auto b = parse_as<CreateReplicationSlot>("CREATE_REPLICATION_SLOT s PHYSICAL RESERVE_WAL");
  CHECK(!b.temporary);
  CHECK(b.reserve_wal);
  auto c = parse_as<CreateReplicationSlot>("CREATE_REPLICATION_SLOT s PHYSICAL");
  CHECK(!c.reserve_wal);
  auto d = parse_as<CreateReplicationSlot>("CREATE_REPLICATION_SLOT s PHYSICAL (reserve_wal false)");
  CHECK(!d.reserve_wal);
  CHECK(parse_error("CREATE_REPLICATION_SLOT s PHYSICAL (two_phase)").message.find(
            "unrecognized option") != std::string::npos);
  CHECK(parse_error("CREATE_REPLICATION_SLOT s PHYSICAL (reserve_wal").code ==
        base::ErrorCode::kInvalidArgument);
  CHECK(parse_error("CREATE_REPLICATION_SLOT s").message.find("PHYSICAL expected") !=
        std::string::npos);
  CHECK(parse_error("CREATE_REPLICATION_SLOT s LOGICAL pgoutput").code ==
        base::ErrorCode::kUnsupported);
  auto drop = parse_as<DropReplicationSlot>("DROP_REPLICATION_SLOT \"s\" WAIT");
  CHECK(drop.slot == "s");
  CHECK(drop.wait);
  CHECK(!parse_as<DropReplicationSlot>("DROP_REPLICATION_SLOT s").wait);
}

TEST_CASE("replication commands this server does not serve") {
  auto e = parse_error("BASE_BACKUP (LABEL 'x')");
  CHECK(e.code == base::ErrorCode::kUnsupported);
  CHECK(e.message.find("BASE_BACKUP is not supported") != std::string::npos);
}

TEST_CASE("bounds: token count, long text quoted in part") {
  std::string many = "SHOW a";
  for (int i = 0; i < 70; ++i) many += ".b";
  CHECK(parse_error(many).message.find("more than 64 tokens") != std::string::npos);
  auto e = parse_error("SELECT " + std::string(1000, 'x'));
  CHECK(e.message.size() < 500);
  CHECK(parse_error("SHOW a!").message.find("unexpected character") != std::string::npos);
}

}  // namespace
}  // namespace wq::pgwire
