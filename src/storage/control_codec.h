// Binary encoding of core::ControlState for the control store (control_store.h):
// a versioned, CRC-protected, little-endian record. Decoding checks every bound
// and every invariant the acceptor relies on, so a damaged record is a clear
// kCorrupt error and never a crash or an invalid state. Pure (no I/O).
//
// Layout, version 1 (all integers little-endian):
//   u32 magic 0x31435157 ("WQC1")   u32 version = 1   u32 payload_len
//   payload:
//     16 tenant id, 16 timeline id, u64 system_id, u32 wal_seg_size, u32 pg_version,
//     u64 term, u32 n, n × (u64 term, u64 lsn) term history,
//     u64 timeline_start_lsn, u64 commit_lsn, u64 truncate_lsn, u8 corrupt (0|1)
//   u32 crc32c over every preceding byte (header and payload)
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "core/acceptor.h"

namespace wq::storage {

inline constexpr std::uint32_t kControlMagic = 0x31435157;
inline constexpr std::uint32_t kControlVersion = 1;
// Bound on term-history entries accepted when decoding (a history grows by one
// entry per elected term; a million is far beyond any real timeline).
inline constexpr std::uint32_t kTermHistoryEntriesMax = 1u << 20;

std::vector<std::uint8_t> encode_control(const core::ControlState& state);
// `what` names the record in error messages (e.g. the LevelDB key).
base::Result<core::ControlState> decode_control(std::span<const std::uint8_t> bytes,
                                                std::string_view what);

// CRC-32C (Castagnoli) with initial value and final XOR 0xFFFFFFFF (wal::crc32c).
std::uint32_t crc32c(std::span<const std::uint8_t> bytes);

}  // namespace wq::storage
