#pragma once
// Logs: the one hook every line herald writes goes through — the delivery
// core's retries and dead letters, the broker clients' messages (librdkafka,
// RabbitMQ connections, PostgreSQL notices), workers' escaped exceptions.
// By default lines go to stderr as text; HERALD_LOG=json writes JSON lines
// for a log shipper, HERALD_LOG=off nothing (docs/observability.md, Logs).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "herald/envelope.hpp"

namespace herald {

enum class LogLevel : std::uint8_t { debug, info, warn, error };
enum class LogFormat : std::uint8_t { text, json, off };

/// "debug", "info", "warn", "error".
std::string_view to_string(LogLevel level) noexcept;
/// "text", "json", "off".
std::string_view to_string(LogFormat format) noexcept;

/// What a line is about when it is about one event; empty fields (and
/// attempt 0) are left out of the line. Values come from events, so they
/// are untrusted: every format escapes them.
struct LogEvent {
  std::string id;
  std::string type;
  std::string group;
  std::string trace_id;  // the traceparent's trace-id
  int attempt = 0;       // failed handler runs so far

  static LogEvent of(const Envelope& event, std::string group = {}, int attempt = 0);
};

/// The trace-id of a W3C traceparent (`00-<trace-id>-<parent-id>-<flags>`,
/// its second field), or empty when `traceparent` is not one.
std::string trace_id_of(std::string_view traceparent);

/// One line, as a hook receives it. Views valid for the call only.
struct LogRecord {
  Timestamp time{};
  LogLevel level = LogLevel::info;
  std::string_view logger;   // "herald.delivery", "herald.kafka", "herald.rabbitmq", ...
  std::string_view message;  // secrets already redacted
  const LogEvent* event = nullptr;
};

/// Receives every record at or above the configured level instead of the
/// built-in stderr writer (e.g. to hand them to the application's logger).
/// Called on whatever thread logs (handler lanes, librdkafka's threads): it
/// must be thread-safe and quick, and should not throw (what it throws is
/// dropped).
using LogHook = std::function<void(const LogRecord&)>;

/// How the process logs.
struct LogOptions {
  LogFormat format = LogFormat::text;
  LogLevel level = LogLevel::info;

  /// `format`: text, json, off; `level`: debug, info, warn, error; an empty
  /// word keeps the default. ConfigError for another word.
  static LogOptions parse(std::string_view format, std::string_view level);
  /// HERALD_LOG and HERALD_LOG_LEVEL (unset: the defaults). ConfigError for
  /// a word neither knows.
  static LogOptions from_env();
  bool operator==(const LogOptions&) const = default;
};

/// Sets how the process logs from now on (make_bus does, when its
/// BusConfig::log is set). Until something calls it, the first line reads
/// HERALD_LOG and HERALD_LOG_LEVEL (a word it does not know leaves the
/// default). Thread-safe.
void configure_logs(const LogOptions& options);
LogOptions log_options();

/// Replaces the stderr writer with `hook` (null: the writer again). The
/// level still filters; format off still silences. Thread-safe.
void set_log_hook(LogHook hook);

/// Whether a line at `level` would be written: check it before building an
/// expensive message.
bool log_enabled(LogLevel level) noexcept;

/// Writes one line if `level` is enabled. URLs and `password=…`-like
/// options in `message` are redacted here, whoever calls. Never throws;
/// thread-safe; a hook that logs from inside is not called again.
void log(LogLevel level, std::string_view logger, std::string_view message, const LogEvent* event = nullptr) noexcept;

/// Like log(), whatever the level (the caller decided: librdkafka's debug
/// lines when the user named `kafka.debug` contexts). Format off still
/// silences.
void write_log(const LogRecord& record) noexcept;

/// The line the built-in writer prints for `record`, '\n'-terminated; empty
/// for LogFormat::off. JSON: one object with ts (RFC 3339 UTC), level,
/// logger, msg and, when known, event_id, event_type, group, attempt,
/// trace_id; always valid JSON whatever bytes the fields hold. Text: one
/// line, control characters escaped. Throws only std::bad_alloc.
std::string format_log_line(const LogRecord& record, LogFormat format);

/// `text` with credentials hidden: each URL through redact_url, and the
/// value of each `key=value` whose key names a secret (is_secret_option).
std::string redact_log_text(std::string_view text);

}  // namespace herald
