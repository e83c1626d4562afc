// Test helpers for src/pgwire: build frontend bytes the way libpq does and
// split backend bytes into messages, written independently of the encoders
// under test so that a bug in one is not mirrored in the other.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

namespace wq::pgwire::test {

using Bytes = std::vector<std::uint8_t>;

inline void be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void be64(Bytes& b, std::uint64_t v) {
  be32(b, static_cast<std::uint32_t>(v >> 32));
  be32(b, static_cast<std::uint32_t>(v));
}
inline std::uint32_t rd32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline std::uint64_t rd64(const std::uint8_t* p) { return (std::uint64_t{rd32(p)} << 32) | rd32(p + 4); }
inline std::uint16_t rd16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

inline Bytes startup(const std::vector<std::pair<std::string, std::string>>& params,
                     std::uint32_t protocol = 196608) {
  Bytes body;
  be32(body, protocol);
  for (const auto& [k, v] : params) {
    body.insert(body.end(), k.begin(), k.end());
    body.push_back(0);
    body.insert(body.end(), v.begin(), v.end());
    body.push_back(0);
  }
  body.push_back(0);
  Bytes out;
  be32(out, static_cast<std::uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

inline Bytes code_packet(std::uint32_t code) {
  Bytes out;
  be32(out, 8);
  be32(out, code);
  return out;
}

inline Bytes typed(char type, const Bytes& body) {
  Bytes out{static_cast<std::uint8_t>(type)};
  be32(out, static_cast<std::uint32_t>(body.size() + 4));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

inline Bytes query(const std::string& text) {
  Bytes body(text.begin(), text.end());
  body.push_back(0);
  return typed('Q', body);
}

inline Bytes status_update(std::uint64_t write, std::uint64_t flush, std::uint64_t apply,
                           bool reply) {
  Bytes p{'r'};
  be64(p, write);
  be64(p, flush);
  be64(p, apply);
  be64(p, 0);
  p.push_back(reply ? 1 : 0);
  return typed('d', p);
}

struct Msg {
  char type = 0;
  Bytes body;

  // ErrorResponse fields by code.
  std::map<char, std::string> fields() const {
    std::map<char, std::string> f;
    std::size_t i = 0;
    while (i < body.size() && body[i] != 0) {
      char code = static_cast<char>(body[i++]);
      std::string v;
      while (i < body.size() && body[i] != 0) v.push_back(static_cast<char>(body[i++]));
      ++i;
      f[code] = v;
    }
    return f;
  }
  // DataRow columns.
  std::vector<std::optional<std::string>> row() const {
    std::vector<std::optional<std::string>> out;
    std::uint16_t n = rd16(body.data());
    std::size_t i = 2;
    for (std::uint16_t c = 0; c < n; ++c) {
      std::uint32_t len = rd32(body.data() + i);
      i += 4;
      if (len == 0xFFFFFFFFu) {
        out.emplace_back(std::nullopt);
        continue;
      }
      out.emplace_back(std::string(body.begin() + static_cast<std::ptrdiff_t>(i),
                                   body.begin() + static_cast<std::ptrdiff_t>(i + len)));
      i += len;
    }
    return out;
  }
  // RowDescription column names.
  std::vector<std::string> columns() const {
    std::vector<std::string> out;
    std::uint16_t n = rd16(body.data());
    std::size_t i = 2;
    for (std::uint16_t c = 0; c < n; ++c) {
      std::string name;
      while (body[i] != 0) name.push_back(static_cast<char>(body[i++]));
      i += 1 + 18;
      out.push_back(name);
    }
    return out;
  }
  std::string text() const {  // CommandComplete tag
    return std::string(body.begin(), body.end() - 1);
  }
};

// Splits backend bytes into messages; the single-byte 'N' answer to
// SSLRequest comes out as a message of type 'N' with no body if `ssl_answer`.
inline std::vector<Msg> split(const Bytes& bytes, bool ssl_answer = false) {
  std::vector<Msg> out;
  std::size_t i = 0;
  if (ssl_answer) {
    REQUIRE(!bytes.empty());
    REQUIRE(bytes[0] == 'N');
    out.push_back(Msg{'N', {}});
    i = 1;
  }
  while (i < bytes.size()) {
    REQUIRE(bytes.size() - i >= 5);
    std::uint32_t len = rd32(bytes.data() + i + 1);
    REQUIRE(len >= 4);
    REQUIRE(bytes.size() - i - 1 >= len);
    out.push_back(Msg{static_cast<char>(bytes[i]),
                      Bytes(bytes.begin() + static_cast<std::ptrdiff_t>(i + 5),
                            bytes.begin() + static_cast<std::ptrdiff_t>(i + 1 + len))});
    i += 1 + len;
  }
  return out;
}

inline std::string types(const std::vector<Msg>& msgs) {
  std::string s;
  for (const auto& m : msgs) s.push_back(m.type);
  return s;
}

}  // namespace wq::pgwire::test
