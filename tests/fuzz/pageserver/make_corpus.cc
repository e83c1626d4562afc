// Writes the seed corpora of the pageserver fuzz targets:
// pageserver_fuzz_make_corpus corpus_getpage corpus_pglz
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "pageserver/getpage_codec.h"

using namespace wq::pageserver;

namespace {
void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s GETPAGE_DIR PGLZ_DIR\n", argv[0]);
    return 2;
  }
  std::string g = argv[1], p = argv[2];
  GetPageRequest r;
  r.page.tenant[0] = 1;
  r.page.spc = 1663;
  r.page.db = 5;
  r.page.rel = 16384;
  r.page.blk = 3;
  r.lsn = 0x1000028;
  write(g + "/request-0", encode_request(r));
  r.page.fork = 3;
  r.lsn = ~0ull;
  write(g + "/request-1", encode_request(r));
  GetPageResponse ok;
  ok.page = wq::wal::Page{};
  ok.lsn = 0x1000028;
  ok.deltas_replayed = 4;
  write(g + "/response-page", encode_response(ok));
  GetPageResponse err;
  err.error = "no redo for resource manager Heap";
  write(g + "/response-error", encode_response(err));
  // pglz: [out size u16][stream]
  write(p + "/abc", {12, 0, 0x08, 'a', 'b', 'c', 0x06, 0x03});
  write(p + "/run", {119, 0, 0x02, 'z', 0x0F, 0x01, 100});
  write(p + "/bad-offset", {12, 0, 0x01, 0x06, 0x03});
  return 0;
}
