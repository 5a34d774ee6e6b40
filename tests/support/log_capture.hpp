#pragma once
// Takes herald's log lines for the life of a test (herald/log.hpp), and
// puts the process's logging back as it was afterwards.

#include <mutex>
#include <string>
#include <vector>

#include "herald/log.hpp"

namespace herald::test {

/// One record as the hook saw it, its views copied, with the line each
/// format would print.
struct CapturedLine {
  LogLevel level;
  std::string logger;
  std::string message;
  bool has_event = false;
  LogEvent event;
  std::string text;  // format_log_line(…, text)
  std::string json;  // format_log_line(…, json)
};

class LogCapture {
 public:
  explicit LogCapture(LogOptions options = {LogFormat::text, LogLevel::debug}) : saved_(log_options()) {
    configure_logs(options);
    set_log_hook([this](const LogRecord& r) {
      CapturedLine line{r.level, std::string(r.logger), std::string(r.message), r.event != nullptr,
                        r.event ? *r.event : LogEvent{}, format_log_line(r, LogFormat::text),
                        format_log_line(r, LogFormat::json)};
      std::lock_guard lock(mutex_);
      lines_.push_back(std::move(line));
    });
  }
  ~LogCapture() {
    set_log_hook(nullptr);
    configure_logs(saved_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::vector<CapturedLine> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  /// Lines of `logger` whose message holds `part`.
  std::vector<CapturedLine> matching(const std::string& logger, const std::string& part = {}) const {
    std::vector<CapturedLine> out;
    for (auto& l : lines())
      if (l.logger == logger && l.message.find(part) != std::string::npos) out.push_back(l);
    return out;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    lines_.clear();
  }

 private:
  LogOptions saved_;
  mutable std::mutex mutex_;
  std::vector<CapturedLine> lines_;
};

}  // namespace herald::test
