#pragma once
// For transport and store authors: the typed reading of a URL's options.
// Applications do not need this header.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "herald/config.hpp"

namespace herald {

/// Reads typed options from a BusConfig, remembering which keys it used, so
/// finish() can refuse the rest by name.
///
/// \code
///   OptionReader r(config, "memory");
///   opts.workers = r.integer("workers", 4, 1, 1024);
///   r.finish();   // ConfigError: memory: unknown option 'wrokers'
/// \endcode
class OptionReader {
 public:
  OptionReader(const BusConfig& config, std::string transport);
  long long integer(const std::string& key, long long fallback, long long min, long long max);
  double number(const std::string& key, double fallback, double min, double max);
  bool flag(const std::string& key, bool fallback);
  std::string text(const std::string& key, const std::string& fallback);
  /// One of `allowed`.
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed);
  /// Milliseconds: "250", "250ms", "2s", "1m".
  std::chrono::milliseconds duration(const std::string& key, std::chrono::milliseconds fallback);
  /// Every option whose key starts with `prefix`, prefix stripped (pass-through).
  std::map<std::string, std::string> with_prefix(const std::string& prefix);
  /// Throws ConfigError naming every option nobody read.
  void finish() const;

 private:
  const BusConfig& config_;
  std::string transport_;
  std::set<std::string> used_;
};

/// "250" (ms), "250ms", "2s", "1.5m", "1h"; nullopt for anything else.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace herald
