// Unit tests for src/pgwire/messages.h: startup packets, frontend messages,
// CopyBoth payloads, the stream splitter and every backend encoder.
#include "pgwire/messages.h"

#include <doctest/doctest.h>

#include "backend.h"

namespace wq::pgwire {
namespace {

using test::Bytes;

bool has(const base::Error& e, const std::string& needle) {
  return e.message.find(needle) != std::string::npos;
}

TEST_CASE("startup message: parameters in order, find()") {
  auto p = decode_startup_packet(test::startup(
      {{"user", "postgres"}, {"replication", "true"}, {"options", "-c a=b"}, {"empty", ""}}));
  REQUIRE(p.has_value());
  auto& m = std::get<StartupMessage>(*p);
  CHECK(m.protocol == kProtocolVersion3);
  REQUIRE(m.params.size() == 4);
  CHECK(*m.find("user") == "postgres");
  CHECK(*m.find("options") == "-c a=b");
  CHECK(*m.find("empty") == "");
  CHECK(m.find("database") == nullptr);
}

TEST_CASE("startup: SSLRequest, GSSENCRequest, CancelRequest") {
  CHECK(std::holds_alternative<SslRequest>(*decode_startup_packet(test::code_packet(80877103))));
  CHECK(std::holds_alternative<GssEncRequest>(*decode_startup_packet(test::code_packet(80877104))));
  Bytes cancel;
  test::be32(cancel, 16);
  test::be32(cancel, 80877102);
  test::be32(cancel, 42);
  test::be32(cancel, 7);
  auto c = decode_startup_packet(cancel);
  REQUIRE(c.has_value());
  CHECK(std::get<CancelRequest>(*c).pid == 42);
  CHECK(std::get<CancelRequest>(*c).key == 7);
  cancel.resize(12);
  cancel[3] = 12;
  CHECK(has(decode_startup_packet(cancel).error(), "CancelRequest of 12 bytes"));
  Bytes ssl = test::code_packet(80877103);
  ssl.push_back(0);
  ssl[3] = 9;
  CHECK(has(decode_startup_packet(ssl).error(), "SSLRequest of 9 bytes"));
}

TEST_CASE("startup: every malformed packet is refused with a reason") {
  CHECK(has(decode_startup_packet(Bytes{0, 0, 0, 4}).error(), "at least 8"));
  Bytes p = test::startup({{"user", "u"}});
  Bytes longer = p;
  longer.push_back(0);
  CHECK(has(decode_startup_packet(longer).error(), "length field says"));
  CHECK(has(decode_startup_packet(test::startup({{"user", "u"}}, 2u << 16)).error(),
            "unsupported frontend protocol 2.0"));
  // No final NUL.
  Bytes no_final = p;
  no_final.pop_back();
  no_final[3] = static_cast<std::uint8_t>(no_final.size());
  CHECK(has(decode_startup_packet(no_final).error(), "without its final NUL"));
  Bytes no_value;
  test::be32(no_value, 13);
  test::be32(no_value, 196608);
  for (char c : std::string("user")) no_value.push_back(static_cast<std::uint8_t>(c));
  no_value.push_back(0);
  CHECK(has(decode_startup_packet(no_value).error(), "has no value"));
  CHECK(has(decode_startup_packet(test::startup({{"user", "a"}, {"user", "b"}})).error(),
            "names parameter \"user\" twice"));
  // Bytes after the final NUL.
  Bytes trailing = test::startup({{"user", "u"}});
  trailing.push_back('x');
  trailing[3] = static_cast<std::uint8_t>(trailing.size());
  CHECK(has(decode_startup_packet(trailing).error(), "after its final NUL"));
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 65; ++i) many.emplace_back("k" + std::to_string(i), "v");
  CHECK(has(decode_startup_packet(test::startup(many)).error(), "more than 64 parameters"));
  std::vector<std::pair<std::string, std::string>> big = {{"user", std::string(10000, 'x')}};
  CHECK(has(decode_startup_packet(test::startup(big)).error(), "at most 10000"));
}

TEST_CASE("frontend messages") {
  auto q = decode_frontend_message('Q', Bytes{'H', 'I', 0});
  REQUIRE(q.has_value());
  CHECK(std::get<Query>(*q).text == "HI");
  CHECK(has(decode_frontend_message('Q', Bytes{'H', 'I'}).error(), "lacks the NUL"));
  CHECK(has(decode_frontend_message('Q', Bytes{'H', 0, 'x'}).error(), "1 bytes after"));
  CHECK(std::holds_alternative<CopyDone>(*decode_frontend_message('c', {})));
  CHECK(has(decode_frontend_message('c', Bytes{1}).error(), "CopyDone message has a 1-byte body"));
  CHECK(std::holds_alternative<Terminate>(*decode_frontend_message('X', {})));
  CHECK(std::get<CopyData>(*decode_frontend_message('d', Bytes{1, 2})).payload == Bytes{1, 2});
  CHECK(std::get<CopyFail>(*decode_frontend_message('f', Bytes{'e', 0})).message == "e");
  CHECK(std::get<OtherMessage>(*decode_frontend_message('P', Bytes{0, 0})).type == 'P');
}

TEST_CASE("copy messages from the client: 'r' and 'h' exactly") {
  Bytes r = test::status_update(0x100, 0x200, 0x300, true);
  auto m = decode_copy_message(std::span(r).subspan(5));
  REQUIRE(m.has_value());
  auto& u = std::get<StandbyStatusUpdate>(*m);
  CHECK(u.write == Lsn(0x100));
  CHECK(u.flush == Lsn(0x200));
  CHECK(u.apply == Lsn(0x300));
  CHECK(u.reply_requested);
  Bytes short_r(r.begin() + 5, r.end() - 1);
  CHECK(has(decode_copy_message(short_r).error(), "of 33 bytes: 34 expected"));

  Bytes h{'h'};
  test::be64(h, 5);
  test::be32(h, 739);
  test::be32(h, 1);
  test::be32(h, 2);
  test::be32(h, 3);
  auto hm = decode_copy_message(h);
  REQUIRE(hm.has_value());
  CHECK(std::get<HotStandbyFeedback>(*hm).xmin == 739);
  CHECK(std::get<HotStandbyFeedback>(*hm).catalog_xmin_epoch == 3);
  h.push_back(0);
  CHECK(has(decode_copy_message(h).error(), "of 26 bytes: 25 expected"));
  CHECK(has(decode_copy_message(Bytes{'z', 1}).error(), "subtype 'z'"));
  CHECK(has(decode_copy_message(Bytes{0x01}).error(), "subtype 0x01"));
  CHECK(has(decode_copy_message(Bytes{}).error(), "empty CopyData"));
}

TEST_CASE("MessageReader: whole packets across arbitrary splits, bounds") {
  Bytes stream = test::startup({{"user", "u"}});
  Bytes q1 = test::query("IDENTIFY_SYSTEM");
  Bytes q2 = test::typed('c', {});
  MessageReader r;
  // Byte by byte: nothing until the whole packet is there.
  for (std::size_t i = 0; i + 1 < stream.size(); ++i) {
    r.feed(std::span(stream).subspan(i, 1));
    auto p = r.next_startup();
    REQUIRE(p.has_value());
    CHECK(!p->has_value());
  }
  r.feed(std::span(stream).subspan(stream.size() - 1));
  auto p = r.next_startup();
  REQUIRE(p.has_value());
  CHECK(**p == stream);
  Bytes both = q1;
  both.insert(both.end(), q2.begin(), q2.end());
  r.feed(std::span(both).first(7));
  CHECK(!r.next_message()->has_value());
  r.feed(std::span(both).subspan(7));
  auto m1 = r.next_message();
  REQUIRE(m1->has_value());
  CHECK((*m1)->type == 'Q');
  CHECK((*m1)->body.size() == 16);
  auto m2 = r.next_message();
  REQUIRE(m2->has_value());
  CHECK((*m2)->type == 'c');
  CHECK((*m2)->body.empty());
  CHECK(r.buffered() == 0);

  MessageReader bad;
  bad.feed(Bytes{'Q', 0, 0, 0, 3});
  CHECK(has(bad.next_message().error(), "invalid length 3"));
  MessageReader big;
  big.feed(Bytes{'Q', 0, 1, 0, 1});
  CHECK(has(big.next_message().error(), "invalid length 65537"));
  MessageReader s1;
  s1.feed(Bytes{0, 0, 0, 7});
  CHECK(has(s1.next_startup().error(), "invalid length of startup packet: 7"));
  MessageReader s2;
  s2.feed(Bytes{0, 0, 0x27, 0x11});
  CHECK(has(s2.next_startup().error(), "10001 bytes"));
}

TEST_CASE("backend encoders: byte layouts") {
  Bytes out;
  encode_copy_both_response(out);
  CHECK(out == Bytes{'W', 0, 0, 0, 7, 0, 0, 0});  // [observed] 57 00000007 00 0000
  out.clear();
  encode_authentication_ok(out);
  CHECK(out == Bytes{'R', 0, 0, 0, 8, 0, 0, 0, 0});
  out.clear();
  encode_ready_for_query(out);
  CHECK(out == Bytes{'Z', 0, 0, 0, 5, 'I'});
  out.clear();
  encode_copy_done(out);
  CHECK(out == Bytes{'c', 0, 0, 0, 4});
  out.clear();
  encode_refuse_encryption(out);
  CHECK(out == Bytes{'N'});
  out.clear();
  encode_parameter_status(out, "a", "bc");
  CHECK(out == Bytes{'S', 0, 0, 0, 9, 'a', 0, 'b', 'c', 0});
  out.clear();
  encode_backend_key_data(out, 1, 2);
  CHECK(out == Bytes{'K', 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2});
  out.clear();
  encode_command_complete(out, "SHOW");
  CHECK(out == Bytes{'C', 0, 0, 0, 9, 'S', 'H', 'O', 'W', 0});

  out.clear();
  Column cols[] = {int8_column("n")};
  encode_row_description(out, cols);
  CHECK(out == Bytes{'T', 0, 0, 0, 26, 0, 1, 'n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 8,
                     0xFF, 0xFF, 0xFF, 0xFF, 0, 0});
  out.clear();
  std::optional<std::string> vals[] = {std::string("ab"), std::nullopt};
  encode_data_row(out, vals);
  CHECK(out == Bytes{'D', 0, 0, 0, 16, 0, 2, 0, 0, 0, 2, 'a', 'b', 0xFF, 0xFF, 0xFF, 0xFF});

  out.clear();
  encode_keepalive(out, Lsn(0x0102030405060708), 9, true);
  REQUIRE(out.size() == 5 + kKeepaliveBytes);
  CHECK(out[0] == 'd');
  CHECK(out[5] == 'k');
  CHECK(test::rd64(out.data() + 6) == 0x0102030405060708);
  CHECK(test::rd64(out.data() + 14) == 9);
  CHECK(out[22] == 1);

  out.clear();
  Bytes wal{1, 2, 3};
  encode_xlog_data(out, Lsn(0x10), Lsn(0x20), -5, wal);
  REQUIRE(out.size() == 5 + kXLogDataHeaderBytes + 3);
  CHECK(test::rd32(out.data() + 1) == 4 + 25 + 3);
  CHECK(out[5] == 'w');
  CHECK(test::rd64(out.data() + 6) == 0x10);
  CHECK(test::rd64(out.data() + 14) == 0x20);
  CHECK(static_cast<std::int64_t>(test::rd64(out.data() + 22)) == -5);
  CHECK(Bytes(out.end() - 3, out.end()) == wal);

  out.clear();
  ErrorFields e;
  e.severity = Severity::kFatal;
  e.sqlstate = "08P01";
  e.message = "bad";
  e.hint = "h";
  encode_error_response(out, e);
  auto msgs = test::split(out);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].type == 'E');
  auto f = msgs[0].fields();
  CHECK(f['S'] == "FATAL");
  CHECK(f['V'] == "FATAL");
  CHECK(f['C'] == "08P01");
  CHECK(f['M'] == "bad");
  CHECK(f['H'] == "h");
  CHECK(f.count('D') == 0);
  CHECK(out.back() == 0);
}

}  // namespace
}  // namespace wq::pgwire
