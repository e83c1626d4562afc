// CRC-32C: slicing-by-8 tables built at compile time, and an SSE4.2 path that
// runs three independent crc32 streams over adjacent blocks and joins them
// with "shift by N zero bytes" tables, since one stream is bound by the
// instruction's 3-cycle latency. See crc32c.h.
#include "wal/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define WQ_CRC32C_X86 1
#endif

namespace wq::wal {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

using Table = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Table make_tables() {
  Table t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
  return t;
}

constexpr Table kTables = make_tables();

inline std::uint32_t load_le32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86-64 and every platform we build on are little-endian
}

std::uint32_t portable(std::uint32_t crc, const std::uint8_t* p, std::size_t n) {
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
    --n;
  }
  while (n >= 8) {
    std::uint32_t lo = load_le32(p) ^ crc;
    std::uint32_t hi = load_le32(p + 4);
    crc = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
          kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
          kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
    --n;
  }
  return crc;
}

#ifdef WQ_CRC32C_X86

// Stream length of the 3-way path; blocks of 3 * kStride bytes.
constexpr std::size_t kStride = 1024;

// shift_table[k][b] = the register after feeding n zero bytes to (b << 8k).
// The register update is linear over GF(2), so a 32-bit value shifts by
// xoring four lookups.
using ShiftTable = std::array<std::array<std::uint32_t, 256>, 4>;

constexpr std::uint32_t zeros_shift_bit(std::uint32_t v, std::size_t n) {
  // Slow reference used only to build the tables: n zero bytes, one bit at a time.
  for (std::size_t i = 0; i < n * 8; ++i) v = (v & 1) ? (v >> 1) ^ kPoly : v >> 1;
  return v;
}

ShiftTable make_shift_table(std::size_t n) {
  std::array<std::uint32_t, 32> basis{};
  for (int b = 0; b < 32; ++b) basis[b] = zeros_shift_bit(1u << b, n);
  ShiftTable t{};
  for (int k = 0; k < 4; ++k) {
    for (std::uint32_t v = 0; v < 256; ++v) {
      std::uint32_t r = 0;
      for (int bit = 0; bit < 8; ++bit) {
        if (v & (1u << bit)) r ^= basis[k * 8 + bit];
      }
      t[k][v] = r;
    }
  }
  return t;
}

struct ShiftTables {
  ShiftTable by1 = make_shift_table(kStride);
  ShiftTable by2 = make_shift_table(2 * kStride);
};

const ShiftTables& shift_tables() {
  static const ShiftTables tables;  // built once, read-only afterwards
  return tables;
}

inline std::uint32_t shift(const ShiftTable& t, std::uint32_t v) {
  return t[0][v & 0xFF] ^ t[1][(v >> 8) & 0xFF] ^ t[2][(v >> 16) & 0xFF] ^ t[3][v >> 24];
}

__attribute__((target("sse4.2"))) std::uint32_t hw_update(std::uint32_t crc,
                                                          const std::uint8_t* p,
                                                          std::size_t n) {
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
  if (n >= 3 * kStride) {
    const ShiftTables& st = shift_tables();
    while (n >= 3 * kStride) {
      std::uint64_t c0 = crc, c1 = 0, c2 = 0;
      const std::uint8_t* p1 = p + kStride;
      const std::uint8_t* p2 = p + 2 * kStride;
      for (std::size_t i = 0; i < kStride; i += 8) {
        std::uint64_t a, b, c;
        std::memcpy(&a, p + i, 8);
        std::memcpy(&b, p1 + i, 8);
        std::memcpy(&c, p2 + i, 8);
        c0 = _mm_crc32_u64(c0, a);
        c1 = _mm_crc32_u64(c1, b);
        c2 = _mm_crc32_u64(c2, c);
      }
      // update(r, A||B||C) = shift2(update(r,A)) ^ shift1(update(0,B)) ^ update(0,C).
      crc = shift(st.by2, static_cast<std::uint32_t>(c0)) ^
            shift(st.by1, static_cast<std::uint32_t>(c1)) ^ static_cast<std::uint32_t>(c2);
      p += 3 * kStride;
      n -= 3 * kStride;
    }
  }
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  crc = static_cast<std::uint32_t>(c);
  while (n > 0) {
    crc = _mm_crc32_u8(crc, *p++);
    --n;
  }
  return crc;
}

bool detect_hw() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}

#endif

}  // namespace

bool crc32c_hw_available() {
#ifdef WQ_CRC32C_X86
  static const bool available = detect_hw();
  return available;
#else
  return false;
#endif
}

std::uint32_t crc32c_portable_update(std::uint32_t crc, const void* data, std::size_t n) {
  return portable(crc, static_cast<const std::uint8_t*>(data), n);
}

std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t n) {
#ifdef WQ_CRC32C_X86
  if (crc32c_hw_available()) return hw_update(crc, static_cast<const std::uint8_t*>(data), n);
#endif
  return portable(crc, static_cast<const std::uint8_t*>(data), n);
}

std::uint32_t crc32c(const void* data, std::size_t n) {
  return ~crc32c_update(kCrc32cInit, data, n);
}

}  // namespace wq::wal
