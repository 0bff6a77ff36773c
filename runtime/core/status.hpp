// Status and Result<T>: the error channel of every load, validate, plan and bind path.
// Hot kernels do not return Status; everything that can see bad input does.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace keel {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something wrong (input shape, dtype, option)
  kInvalidModel,     // the model file itself is malformed or inconsistent
  kUnsupported,      // valid ONNX that keel does not implement
  kOutOfMemory,
  kInternal,
};

const char* status_code_name(StatusCode code);

// `text` with every byte that is not part of printable UTF-8 written as \xNN: invalid or
// truncated sequences, overlong forms, surrogates, and control characters (newlines included).
std::string printable_message(std::string text);

class [[nodiscard]] Status {
 public:
  Status() = default;
  // The message is kept printable UTF-8 (printable_message): names from a model file or a
  // request may hold any bytes, and an error is printed as one line.
  Status(StatusCode code, std::string message)
      : code_(code), message_(printable_message(std::move(message))) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_MODEL: node 'conv1' (Conv): ..."
  std::string to_string() const;

  // Prefixes the message with context ("while loading 'x.onnx': ...").
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status invalid_model(std::string m) { return {StatusCode::kInvalidModel, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.is_ok()); }  // NOLINT

  bool is_ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace keel

#define KEEL_CONCAT_INNER_(a, b) a##b
#define KEEL_CONCAT_(a, b) KEEL_CONCAT_INNER_(a, b)

#define KEEL_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::keel::Status keel_status_ = (expr);           \
    if (!keel_status_.is_ok()) return keel_status_; \
  } while (0)

#define KEEL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.is_ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define KEEL_ASSIGN_OR_RETURN(lhs, expr) \
  KEEL_ASSIGN_OR_RETURN_IMPL_(KEEL_CONCAT_(keel_result_, __LINE__), lhs, expr)
