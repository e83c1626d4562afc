// Writes the seed corpora of the codec fuzz targets: small valid encodings of
// every message (corpus_message/) and framed streams of them
// (corpus_frame/, with the frame target's two leading control bytes).
// Deterministic. Usage: codec_fuzz_make_corpus <corpus_frame dir> <corpus_message dir>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "codec/frame.h"
#include "codec/messages.h"
#include "random_messages.h"

namespace {

using wq::codec::testing::Prng;

constexpr std::size_t kSeedBytesMax = 240;
constexpr std::size_t kPerKind = 2;

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// Small encodings of each kind, found by drawing until they fit.
template <typename Message>
std::vector<std::pair<std::string, std::vector<std::uint8_t>>> small_encodings(
    Prng& rng, Message (*make)(Prng&, std::size_t)) {
  std::vector<std::pair<std::string, std::vector<std::uint8_t>>> out;
  for (std::size_t kind = 0; kind < std::variant_size_v<Message>; ++kind) {
    for (std::size_t n = 0; n < kPerKind;) {
      const Message m = make(rng, kind);
      auto bytes = wq::codec::encode(m);
      if (bytes.size() > kSeedBytesMax) continue;
      out.emplace_back(std::string(wq::codec::message_name(m)) + "-" + std::to_string(n),
                       std::move(bytes));
      ++n;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <corpus_frame dir> <corpus_message dir>\n", argv[0]);
    return 2;
  }
  const std::string frame_dir = argv[1];
  const std::string message_dir = argv[2];
  Prng rng(20261125);
  auto all = small_encodings<wq::core::ProposerMessage>(
      rng, &wq::codec::testing::random_proposer_message);
  for (auto& e : small_encodings<wq::core::AcceptorMessage>(
           rng, &wq::codec::testing::random_acceptor_message)) {
    all.push_back(std::move(e));
  }
  for (const auto& [name, bytes] : all) write(message_dir + "/" + name, bytes);

  // Streams of three frames each, default limit (selector 4), varied chunking.
  for (std::size_t i = 0; i + 2 < all.size(); i += 3) {
    std::vector<std::uint8_t> input = {4, static_cast<std::uint8_t>(i)};
    for (std::size_t j = i; j < i + 3; ++j) {
      const auto frame = wq::codec::encode_frame(all[j].second);
      input.insert(input.end(), frame.begin(), frame.end());
    }
    write(frame_dir + "/stream-" + std::to_string(i / 3), input);
  }
  write(frame_dir + "/zero-length", {4, 0, 0, 0, 0, 0});
  write(frame_dir + "/oversized", {3, 1, 0x01, 0x10, 0, 0, 0xAA});
  write(frame_dir + "/partial", {4, 2, 0x10, 0, 0, 0, 1, 2, 3});
  std::printf("wrote %zu message seeds\n", all.size());
  return 0;
}
