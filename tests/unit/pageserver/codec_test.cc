// GetPage@LSN codec: round trips and what the decoder refuses.
#include <doctest/doctest.h>

#include "pageserver/getpage_codec.h"

using namespace wq::pageserver;

TEST_CASE("GetPage request and response round-trip") {
  GetPageRequest r;
  r.page.tenant[0] = 1;
  r.page.timeline[15] = 2;
  r.page.spc = 1663;
  r.page.db = 5;
  r.page.rel = 16384;
  r.page.fork = 2;
  r.page.blk = 99;
  r.lsn = 0x1234567890;
  auto back = decode_request(encode_request(r));
  REQUIRE(back);
  CHECK(back->page == r.page);
  CHECK(back->lsn == r.lsn);

  GetPageResponse ok;
  ok.page = wq::wal::Page{};
  (*ok.page)[100] = 7;
  ok.lsn = 55;
  ok.deltas_replayed = 4;
  auto ok2 = decode_response(encode_response(ok));
  REQUIRE(ok2);
  REQUIRE(ok2->page);
  CHECK(*ok2->page == *ok.page);
  CHECK(ok2->deltas_replayed == 4);
  GetPageResponse err;
  err.error = "no redo for resource manager Heap";
  auto err2 = decode_response(encode_response(err));
  REQUIRE(err2);
  CHECK_FALSE(err2->page);
  CHECK(err2->error == err.error);
}

TEST_CASE("GetPage decoder refuses bad messages") {
  GetPageRequest r;
  auto bytes = encode_request(r);
  CHECK(decode_request({}).error().code == wq::base::ErrorCode::kMalformedMessage);
  CHECK_FALSE(decode_request(std::span(bytes).first(bytes.size() - 1)));
  auto longer = bytes;
  longer.insert(longer.end(), 8, 0);
  CHECK_FALSE(decode_request(longer));
  r.version = 9;
  CHECK(decode_request(encode_request(r)).error().message.find("version 9") != std::string::npos);
  r.version = kGetPageVersion;
  r.page.fork = 4;
  CHECK_FALSE(decode_request(encode_request(r)));
  std::vector<std::uint8_t> junk(64, 0xFF);
  CHECK_FALSE(decode_request(junk));
}
