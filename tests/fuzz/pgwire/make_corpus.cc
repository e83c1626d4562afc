// Writes the seed corpus of pgwire_session_fuzz: event sequences that walk a
// session through startup, commands, streaming with every kind of host answer,
// slots and the refusals, plus raw texts for the command and options parsers.
// Usage: pgwire_fuzz_make_corpus DIR
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<std::uint8_t>;

// Event opcodes of pgwire_session_fuzz.cc (op % 8).
constexpr std::uint8_t kRaw = 0, kOpen = 1, kRead = 2, kCommit = 3, kTick = 4, kSlot = 5, kEof = 6,
                       kCanned = 7;
// Canned client messages (index % 12).
constexpr std::uint8_t kStartup = 0, kIdentify = 1, kStart = 2, kStartSlot = 3, kStatus = 4,
                       kCopyDone = 5, kHsf = 6, kReadSlot = 7, kSsl = 8, kShow = 9, kHistory = 10,
                       kTerminate = 11;

void be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

Bytes raw(const Bytes& bytes) {
  Bytes out;
  for (std::size_t i = 0; i < bytes.size(); i += 255) {
    std::size_t n = std::min<std::size_t>(255, bytes.size() - i);
    out.push_back(kRaw);
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(i),
               bytes.begin() + static_cast<std::ptrdiff_t>(i + n));
  }
  return out;
}

Bytes query(const std::string& text) {
  Bytes out{'Q'};
  be32(out, static_cast<std::uint32_t>(text.size() + 5));
  out.insert(out.end(), text.begin(), text.end());
  out.push_back(0);
  return out;
}

Bytes startup(const std::vector<std::string>& kv) {
  Bytes body;
  be32(body, 196608);
  for (const auto& s : kv) {
    body.insert(body.end(), s.begin(), s.end());
    body.push_back(0);
  }
  body.push_back(0);
  Bytes out;
  be32(out, static_cast<std::uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

bool write(const std::string& dir, const std::string& name, const Bytes& b) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: pgwire_fuzz_make_corpus DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  const Bytes login = {kCanned, kStartup, kOpen, 1};
  std::vector<std::pair<std::string, Bytes>> seeds = {
      {"stream", cat({login, {kCanned, kIdentify, kCanned, kShow, kCanned, kStart, kRead, 0,
                              kCommit, 0, 5, kRead, 1, kRead, 0, kCommit, 2, 0, kRead, 0, kRead, 0,
                              kCanned, kStatus, kCanned, kHsf, kTick, 20, kTick, 200, kCanned,
                              kCopyDone, kCanned, kTerminate}})},
      {"slot", cat({login, {kCanned, kReadSlot, kSlot, 2, kCanned, kStartSlot, kRead, 2, kCanned,
                            kReadSlot, kSlot, 1, kCanned, kStart, kRead, 3, kCanned, kHistory}})},
      {"refused", {kCanned, kSsl, kCanned, kStartup, kOpen, 0, kCanned, kIdentify}},
      {"eof", cat({login, {kCanned, kStart, kEof, kRead, 0}})},
      {"garbage", raw(Bytes{0, 0, 0, 3, 'g', 'a', 'r', 'b', 'a', 'g', 'e'})},
      {"no_options", raw(startup({"user", "u", "replication", "true"}))},
      {"pipelined",
       cat({raw(cat({startup({"user", "u", "replication", "database", "options",
                              "-c tenant_id=0123456789abcdef0123456789abcdef "
                              "--timeline-id=0123456789ABCDEF0123456789ABCDEF"}),
                     query("SHOW data_directory_mode"), query("identify_system"),
                     query("CREATE_REPLICATION_SLOT \"a\" TEMPORARY PHYSICAL (RESERVE_WAL)"),
                     query("DROP_REPLICATION_SLOT a WAIT"),
                     query("START_REPLICATION SLOT x LOGICAL 0/0"),
                     query("START_REPLICATION 0/1000000 TIMELINE 2"),
                     query("START_REPLICATION 9/0")})),
            {kOpen, 1}})},
      {"command_text", Bytes{}},
      {"options_text", Bytes{}},
  };
  std::string cmd = "START_REPLICATION SLOT \"s1\" PHYSICAL 1/ABCDEF00 TIMELINE 3;";
  seeds[7].second.assign(cmd.begin(), cmd.end());
  std::string opts = "-c tenant_id=0123456789abcdef0123456789abcdef -c timeline_id=a\\ b";
  seeds[8].second.assign(opts.begin(), opts.end());
  for (const auto& [name, bytes] : seeds) {
    if (!write(dir, name, bytes)) {
      std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name.c_str());
      return 1;
    }
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
  return 0;
}
