#include "herald/log.hpp"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "herald/config.hpp"
#include "herald/errors.hpp"

namespace herald {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Above every level: nothing passes.
constexpr std::uint8_t silent = 4;

std::uint8_t threshold_of(const LogOptions& o) noexcept {
  return o.format == LogFormat::off ? silent : static_cast<std::uint8_t>(o.level);
}

class Logs {
 public:
  static Logs& instance() {
    static Logs logs;
    return logs;
  }

  void configure(const LogOptions& options) {
    std::lock_guard lock(mutex_);
    options_ = options;
    threshold_.store(threshold_of(options), std::memory_order_relaxed);
  }
  LogOptions options() {
    std::lock_guard lock(mutex_);
    return options_;
  }
  void set_hook(LogHook hook) {
    std::lock_guard lock(mutex_);
    hook_ = hook ? std::make_shared<const LogHook>(std::move(hook)) : nullptr;
  }
  bool enabled(LogLevel level) const noexcept {
    return static_cast<std::uint8_t>(level) >= threshold_.load(std::memory_order_relaxed);
  }
  bool silenced() const noexcept { return threshold_.load(std::memory_order_relaxed) == silent; }

  void write(const LogRecord& record) {
    std::shared_ptr<const LogHook> hook;
    LogFormat format;
    {
      std::lock_guard lock(mutex_);
      hook = hook_;
      format = options_.format;
    }
    if (format == LogFormat::off) return;
    if (hook) {
      (*hook)(record);
      return;
    }
    const std::string line = format_log_line(record, format);
    // One call per line: stdio locks the stream for it, so lines from
    // several threads do not interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
  }

 private:
  Logs() {
    try {
      options_ = LogOptions::from_env();
    } catch (const std::exception&) {
      // make_bus refuses the word; a line written before keeps the default.
    }
    threshold_.store(threshold_of(options_), std::memory_order_relaxed);
  }

  std::mutex mutex_;
  LogOptions options_;
  std::shared_ptr<const LogHook> hook_;
  std::atomic<std::uint8_t> threshold_{static_cast<std::uint8_t>(LogLevel::info)};
};

bool scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// Only white space ends a URL or a value: a password pasted raw may hold
// any other character, and a quote after a URL only lengthens its path.
bool ends_token(char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }

bool key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

std::string redact_urls(std::string_view text) {
  std::string out;
  std::size_t done = 0;
  std::size_t at = text.find("://");
  while (at != npos) {
    std::size_t start = at;
    while (start > done && scheme_char(text[start - 1])) --start;
    if (start == at) {
      at = text.find("://", at + 3);
      continue;
    }
    std::size_t end = at + 3;
    while (end < text.size() && !ends_token(text[end])) ++end;
    out.append(text.substr(done, start - done));
    out += redact_url(text.substr(start, end - start));
    done = end;
    at = text.find("://", end);
  }
  out.append(text.substr(done));
  return out;
}

// sasl.password=…, password=…: the value up to the next separator.
std::string redact_options(std::string text) {
  for (std::size_t eq = text.find('='); eq != npos; eq = text.find('=', eq + 1)) {
    std::size_t start = eq;
    while (start > 0 && key_char(text[start - 1])) --start;
    if (start == eq || !is_secret_option(std::string_view(text).substr(start, eq - start))) continue;
    std::size_t end = eq + 1;
    while (end < text.size() && !ends_token(text[end]) && text[end] != '&') ++end;
    if (std::string_view(text).substr(eq + 1, end - eq - 1) == "***") continue;
    text.replace(eq + 1, end - eq - 1, "***");
  }
  return text;
}

// Control characters (a line break could forge a line) as \xNN; other bytes
// as they are, so UTF-8 text stays readable.
void append_escaped(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) out.append({'\\', 'x', hex[c >> 4], hex[c & 15]});
    else out += ch;
  }
}

LogLevel level_from(std::string_view word, std::string_view what) {
  if (word == "debug") return LogLevel::debug;
  if (word == "info") return LogLevel::info;
  if (word == "warn" || word == "warning") return LogLevel::warn;
  if (word == "error") return LogLevel::error;
  throw ConfigError(std::string(what) + ": '" + printable(word) + "' is not debug, info, warn or error");
}

LogFormat format_from(std::string_view word, std::string_view what) {
  if (word == "text") return LogFormat::text;
  if (word == "json") return LogFormat::json;
  if (word == "off") return LogFormat::off;
  throw ConfigError(std::string(what) + ": '" + printable(word) + "' is not text, json or off");
}

}  // namespace

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "unknown";
}

std::string_view to_string(LogFormat format) noexcept {
  switch (format) {
    case LogFormat::text: return "text";
    case LogFormat::json: return "json";
    case LogFormat::off: return "off";
  }
  return "unknown";
}

std::string trace_id_of(std::string_view traceparent) {
  // version "-" trace-id (32 lowercase hex, not all zero) "-" ...
  if (traceparent.size() < 36 || traceparent[2] != '-' || traceparent[35] != '-') return {};
  std::string_view id = traceparent.substr(3, 32);
  bool zero = true;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
    zero &= c == '0';
  }
  return zero ? std::string() : std::string(id);
}

LogEvent LogEvent::of(const Envelope& event, std::string group, int attempt) {
  LogEvent e;
  e.id = event.id;
  e.type = event.type;
  e.group = std::move(group);
  e.trace_id = trace_id_of(event.traceparent);
  e.attempt = attempt;
  return e;
}

LogOptions LogOptions::parse(std::string_view format, std::string_view level) {
  LogOptions o;
  if (!format.empty()) o.format = format_from(format, "log format");
  if (!level.empty()) o.level = level_from(level, "log level");
  return o;
}

LogOptions LogOptions::from_env() {
  LogOptions o;
  if (const char* format = std::getenv("HERALD_LOG"); format && *format) o.format = format_from(format, "HERALD_LOG");
  if (const char* level = std::getenv("HERALD_LOG_LEVEL"); level && *level) o.level = level_from(level, "HERALD_LOG_LEVEL");
  return o;
}

void configure_logs(const LogOptions& options) { Logs::instance().configure(options); }

LogOptions log_options() { return Logs::instance().options(); }

void set_log_hook(LogHook hook) { Logs::instance().set_hook(std::move(hook)); }

bool log_enabled(LogLevel level) noexcept { return Logs::instance().enabled(level); }

void write_log(const LogRecord& record) noexcept {
  // A hook that logs (or a secret helper that does) would recurse.
  thread_local bool inside = false;
  if (inside) return;
  inside = true;
  try {
    Logs& logs = Logs::instance();
    if (!logs.silenced()) {
      const std::string safe = redact_log_text(record.message);
      LogRecord redacted = record;
      redacted.message = safe;
      logs.write(redacted);
    }
  } catch (...) {
    // A line that cannot be written (out of memory, a throwing hook) is lost.
  }
  inside = false;
}

void log(LogLevel level, std::string_view logger, std::string_view message, const LogEvent* event) noexcept {
  if (!log_enabled(level)) return;
  write_log(LogRecord{now_micros(), level, logger, message, event});
}

std::string format_log_line(const LogRecord& record, LogFormat format) {
  if (format == LogFormat::off) return {};
  const LogEvent* e = record.event;
  if (format == LogFormat::json) {
    nlohmann::ordered_json j;
    j["ts"] = format_time(record.time);
    j["level"] = to_string(record.level);
    j["logger"] = record.logger;
    j["msg"] = record.message;
    if (e) {
      if (!e->id.empty()) j["event_id"] = e->id;
      if (!e->type.empty()) j["event_type"] = e->type;
      if (!e->group.empty()) j["group"] = e->group;
      if (e->attempt > 0) j["attempt"] = e->attempt;
      if (!e->trace_id.empty()) j["trace_id"] = e->trace_id;
    }
    // Invalid UTF-8 (an event id from a foreign producer) becomes U+FFFD
    // instead of an exception; control characters are escaped by dump.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string line = format_time(record.time);
  line += ' ';
  for (char c : to_string(record.level)) line += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  line += ' ';
  append_escaped(line, record.logger);
  line += ": ";
  append_escaped(line, record.message);
  if (e) {
    std::string fields;
    auto field = [&](std::string_view name, std::string_view value) {
      if (value.empty()) return;
      fields += fields.empty() ? "" : " ";
      fields.append(name) += '=';
      append_escaped(fields, value);
    };
    field("event_id", e->id);
    field("event_type", e->type);
    field("group", e->group);
    if (e->attempt > 0) field("attempt", std::to_string(e->attempt));
    field("trace_id", e->trace_id);
    if (!fields.empty()) line += " [" + fields + "]";
  }
  return line + "\n";
}

std::string redact_log_text(std::string_view text) {
  if (text.find("://") == npos && text.find('=') == npos) return std::string(text);
  return redact_options(redact_urls(text));
}

}  // namespace herald
