// Result<T>: the value-or-error return of recoverable edge failures, shaped like
// C++23 std::expected so a later move is a rename. Our code does not throw.
// Pure: no I/O.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace wq::base {

// One short enum: a code exists only if some caller branches on it.
enum class ErrorCode {
  kInvalidArgument,   // bad text, flags or configuration from a person
  kCorrupt,           // bytes that cannot be valid (bad CRC, bad header, impossible length)
  kEndOfData,         // input ended before the thing was complete
  kMalformedMessage,  // a network frame or message that does not decode
  kRefused,           // a peer or state machine said no (wrong term, wrong timeline)
  kIo,                // an operating-system call failed (not fsync: that ends the process)
  kNoSpace,           // ENOSPC
  kNotFound,
  kTimeout,
  kUnsupported,
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;  // one line: what was wrong, where, what was expected
};

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kEndOfData: return "end of data";
    case ErrorCode::kMalformedMessage: return "malformed message";
    case ErrorCode::kRefused: return "refused";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kNoSpace: return "no space";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kUnsupported: return "unsupported";
  }
  return "unknown";
}

// Tag type to build an error Result: `return Unexpected{ErrorCode::kCorrupt, "..."};`
struct Unexpected {
  Error error;
  Unexpected(ErrorCode code, std::string message) : error{code, std::move(message)} {}
  explicit Unexpected(Error e) : error(std::move(e)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit like expected
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    WQ_ASSERT(has_value(), "Result::value() on error: {}", std::get<1>(v_).message);
    return std::get<0>(v_);
  }
  const T& value() const& {
    WQ_ASSERT(has_value(), "Result::value() on error: {}", std::get<1>(v_).message);
    return std::get<0>(v_);
  }
  T&& value() && {
    WQ_ASSERT(has_value(), "Result::value() on error: {}", std::get<1>(v_).message);
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    WQ_ASSERT(!has_value(), "Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
struct Ok {};
using Status = Result<Ok>;

}  // namespace wq::base
