// tern::Result<T>: a value or an Error, shared by every module.
// Cores return Results instead of logging or throwing; adapters and the controller
// decide what to log. Error carries a category (for callers that branch on it) and a
// human message (for operators).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace tern {

enum class Errc {
  kInvalidArgument,  // input that can never be valid (bad address, bad config value)
  kNotFound,
  kAlreadyExists,
  kMalformed,        // bytes that do not decode
  kUnsupported,
  kIo,               // a system call failed; message names it and errno
  kTimeout,
  kUnavailable,      // try again later
  kInternal,
};

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  int sys_errno = 0;  // the errno behind an kIo error, 0 otherwise

  // Prefixes context, e.g. "peers[2].address: " + "not an IP address".
  Error wrap(const std::string& context) const& { return {code, context + ": " + message, sys_errno}; }
};

inline Error make_error(Errc code, std::string message, int sys_errno = 0) {
  return Error{code, std::move(message), sys_errno};
}

// An errno-carrying I/O error: "what: strerror(err)".
Error io_error(const std::string& what, int err);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace tern
