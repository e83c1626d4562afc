// CRC-32C (Castagnoli), the checksum of every PostgreSQL WAL record (reference
// §1.6, §7.1). An SSE4.2 path chosen at run time, and a portable slicing-by-8
// path that tests compare against it. Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wq::wal {

// The running value starts here (PostgreSQL's INIT_CRC32C).
inline constexpr std::uint32_t kCrc32cInit = 0xFFFFFFFFu;

// Continues a running CRC-32C over n bytes: no initial or final xor, so
// crc32c_update(crc32c_update(kCrc32cInit, a), b) == the register after a||b.
// The final value of a WAL record is ~running (FIN_CRC32C).
std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t n);

// The same, always on the portable slicing-by-8 path.
std::uint32_t crc32c_portable_update(std::uint32_t crc, const void* data, std::size_t n);

// Whole-buffer CRC-32C with init and final xor: crc32c("123456789", 9) == 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t n);

// True when the CPU has the SSE4.2 crc32 instruction and crc32c_update uses it.
bool crc32c_hw_available();

}  // namespace wq::wal
