// Throughput of the codec hot path: a 128 KiB-WAL AppendRequest through
// encode, decode, and encode + frame + FrameReader + decode. A benchmark, not a
// test (timing never decides pass/fail). Usage: codec_bench [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "codec/frame.h"
#include "codec/messages.h"
#include "random_messages.h"

namespace {

using Clock = std::chrono::steady_clock;

double mb_per_s(std::size_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) / 1e6 / std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
  wq::codec::testing::Prng rng(42);
  wq::core::AppendRequest a;
  a.term = wq::core::Term(7);
  a.wal = rng.bytes(128 * 1024);
  a.begin_lsn = wq::core::Lsn(0x3000000);
  a.end_lsn = a.begin_lsn + a.wal.size();
  a.commit_lsn = a.begin_lsn;
  const wq::core::ProposerMessage message(a);
  const std::size_t wal_bytes = iterations * a.wal.size();
  std::size_t sink = 0;

  auto t0 = Clock::now();
  for (std::size_t i = 0; i < iterations; ++i) sink += wq::codec::encode(message).size();
  const auto encode_time = Clock::now() - t0;

  const auto payload = wq::codec::encode(message);
  t0 = Clock::now();
  for (std::size_t i = 0; i < iterations; ++i) {
    auto m = wq::codec::decode_proposer_message(payload);
    if (!m) return 1;
    sink += std::get<wq::core::AppendRequest>(*m).wal.size();
  }
  const auto decode_time = Clock::now() - t0;

  wq::codec::FrameReader reader;
  t0 = Clock::now();
  for (std::size_t i = 0; i < iterations; ++i) {
    const auto frame = wq::codec::encode_frame(wq::codec::encode(message));
    // As a socket would deliver it: 64 KiB reads.
    for (std::size_t at = 0; at < frame.size(); at += 65536) {
      reader.feed(std::span(frame).subspan(at, std::min<std::size_t>(65536, frame.size() - at)));
      for (;;) {
        auto f = reader.next();
        if (!f) return 1;
        if (!f->has_value()) break;
        auto m = wq::codec::decode_proposer_message(**f);
        if (!m) return 1;
        sink += std::get<wq::core::AppendRequest>(*m).wal.size();
      }
    }
  }
  const auto pipeline_time = Clock::now() - t0;

  std::printf("AppendRequest with %zu bytes of WAL, %zu iterations (payload %zu bytes)\n",
              a.wal.size(), iterations, payload.size());
  std::printf("encode:                            %8.0f MB/s of WAL\n",
              mb_per_s(wal_bytes, encode_time));
  std::printf("decode:                            %8.0f MB/s of WAL\n",
              mb_per_s(wal_bytes, decode_time));
  std::printf("encode+frame+FrameReader+decode:   %8.0f MB/s of WAL\n",
              mb_per_s(wal_bytes, pipeline_time));
  return sink == 0 ? 1 : 0;
}
