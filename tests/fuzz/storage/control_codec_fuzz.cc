// libFuzzer target: storage::decode_control, the decoder of the control record
// a safekeeper reads back from LevelDB at every start (bytes a damaged disk or a
// foreign writer may have changed). Input layout: byte 0 is a mode, the rest the
// record. With bit 0 of the mode set, the harness first rewrites the record's
// payload length and CRC to match its bytes, so mutations reach the field
// checks behind the CRC. Decoding must not crash; errors are one-line kCorrupt
// or kUnsupported; whatever decodes must re-encode to the same bytes, and an
// acceptor started from it (at an end of WAL at its commit LSN, as the restart
// scan guarantees unless the state is marked corrupt) must hold its invariants.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/assert.h"
#include "core/acceptor.h"
#include "storage/control_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::vector<std::uint8_t> rec(data + 1, data + size);
  if ((mode & 1) && rec.size() >= 16) {
    const std::size_t payload = rec.size() - 16;
    for (int i = 0; i < 4; ++i) rec[8 + i] = static_cast<std::uint8_t>(payload >> (8 * i));
    const std::uint32_t crc =
        wq::storage::crc32c(std::span<const std::uint8_t>(rec).first(rec.size() - 4));
    for (int i = 0; i < 4; ++i) rec[rec.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  }
  auto decoded = wq::storage::decode_control(rec, "fuzz");
  if (!decoded) {
    const auto& e = decoded.error();
    WQ_ASSERT(e.code == wq::base::ErrorCode::kCorrupt || e.code == wq::base::ErrorCode::kUnsupported,
              "unexpected error code: {}", e.message);
    WQ_ASSERT(e.message.find('\n') == std::string::npos, "multi-line error");
    return 0;
  }
  const wq::core::ControlState& s = *decoded;
  const auto again = wq::storage::encode_control(s);
  WQ_ASSERT(again == rec, "decoded control record re-encodes to other bytes");
  // What the safekeeper does next: an acceptor on this state. The restart scan
  // hands it an end of WAL at or above the commit LSN (or marks it corrupt).
  // A decoded state the acceptor's invariants reject would crash every restart.
  wq::core::Lsn wal_end = s.commit_lsn;
  if (s.timeline_start_lsn > wal_end) wal_end = s.timeline_start_lsn;
  if (!s.term_history.empty() && s.term_history.entries().back().lsn > wal_end) {
    wal_end = s.term_history.entries().back().lsn;
  }
  wq::core::Acceptor acceptor(wq::core::NodeId{1}, s, wal_end);
  acceptor.check_invariants();
  return 0;
}
