#pragma once
// Errors herald throws. One root type; callers branch on code() and retriable().

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

namespace herald {

enum class ErrorCode {
  config,      // bad configuration: unknown key, bad value, unknown scheme
  decode,      // bad input on the wire: malformed JSON, missing attribute, oversize data
  publish,     // the transport did not accept an event (nack, unroutable, queue full)
  transport,   // broker unreachable or connection lost
  timeout,     // an operation did not finish within its deadline
  closed,      // the bus was closed
  store,       // the event/idempotency store failed
  not_found,   // a requested event or dead letter does not exist
  handler,     // a handler's own verdict: retry later (retriable) or PermanentError
  schema,      // event data does not match its catalog schema (herald/catalog.hpp)
};

const char* to_string(ErrorCode code) noexcept;

/// `text` made safe to quote in an error message built from untrusted input:
/// bytes that are not printable ASCII become \xHH and it is cut after `max`
/// bytes, so the message is valid UTF-8 (JSON replies and logs cannot throw on it).
std::string printable(std::string_view text, std::size_t max = 64);

/// Root of every exception herald throws.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, bool retriable = false)
      : std::runtime_error(message), code_(code), retriable_(retriable) {}
  ErrorCode code() const noexcept { return code_; }
  /// Whether trying the same operation again later can succeed.
  bool retriable() const noexcept { return retriable_; }

 private:
  ErrorCode code_;
  bool retriable_;
};

/// A configuration value, key or scheme was refused. Never retriable.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(ErrorCode::config, message) {}
};

/// Input could not be decoded; field() names the offending attribute ("" for the whole document).
class DecodeError : public Error {
 public:
  DecodeError(std::string field, const std::string& message)
      : Error(ErrorCode::decode, message), field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

/// The transport refused or could not confirm a publish.
class PublishError : public Error {
 public:
  explicit PublishError(const std::string& message, bool retriable = true)
      : Error(ErrorCode::publish, message, retriable) {}
};

/// The broker connection failed.
class TransportError : public Error {
 public:
  explicit TransportError(const std::string& message, bool retriable = true)
      : Error(ErrorCode::transport, message, retriable) {}
};

class TimeoutError : public Error {
 public:
  explicit TimeoutError(const std::string& message) : Error(ErrorCode::timeout, message, true) {}
};

class ClosedError : public Error {
 public:
  explicit ClosedError(const std::string& message) : Error(ErrorCode::closed, message) {}
};

class StoreError : public Error {
 public:
  explicit StoreError(const std::string& message, bool retriable = false)
      : Error(ErrorCode::store, message, retriable) {}
};

/// Thrown by a handler that knows retrying cannot help (a refused payment,
/// an order that no longer exists): the event is dead-lettered at once with
/// reason `non_retriable` instead of running max_attempts times.
class PermanentError : public Error {
 public:
  explicit PermanentError(const std::string& message) : Error(ErrorCode::handler, message, false) {}
};

/// Thrown by a handler that knows when trying again can help: a rate limit,
/// an endpoint answering 429 or 503 with Retry-After. Retriable; the next
/// attempt waits at least `after` (and at most the policy's max_delay).
class RetryLaterError : public Error {
 public:
  RetryLaterError(const std::string& message, std::chrono::milliseconds after)
      : Error(ErrorCode::handler, message, true), after_(after) {}
  std::chrono::milliseconds after() const noexcept { return after_; }

 private:
  std::chrono::milliseconds after_;
};

/// Event data that does not validate against the catalog's schema for its
/// type and dataversion, or a type/version the catalog does not know under
/// `unknown=refuse` (then pointer() and rule() are empty). Never retriable.
class SchemaError : public Error {
 public:
  SchemaError(std::string type, int version, std::string pointer, std::string rule, const std::string& message)
      : Error(ErrorCode::schema, message),
        type_(std::move(type)),
        version_(version),
        pointer_(std::move(pointer)),
        rule_(std::move(rule)) {}
  const std::string& type() const noexcept { return type_; }
  int version() const noexcept { return version_; }
  /// JSON pointer (RFC 6901) into `data` of the value that failed ("" for the whole payload).
  const std::string& pointer() const noexcept { return pointer_; }
  /// The rule that failed, as the validator states it.
  const std::string& rule() const noexcept { return rule_; }

 private:
  std::string type_;
  int version_;
  std::string pointer_;
  std::string rule_;
};

class NotFoundError : public Error {
 public:
  explicit NotFoundError(const std::string& message) : Error(ErrorCode::not_found, message) {}
};

}  // namespace herald
