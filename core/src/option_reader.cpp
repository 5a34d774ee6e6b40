#include "herald/ext/options.hpp"

#include <stdexcept>

#include "herald/errors.hpp"

namespace herald {

OptionReader::OptionReader(const BusConfig& config, std::string transport)
    : config_(config), transport_(std::move(transport)) {}

namespace {

[[noreturn]] void bad(const std::string& transport, const std::string& key, const std::string& value,
                      const std::string& expected) {
  throw ConfigError(transport + ": option '" + key + "' = '" + value + "' is not " + expected);
}

}  // namespace

namespace {

// Parses the whole of `text` with `parse` (std::stoll, std::stod) and checks
// the bounds, naming the option in every error.
template <class T, class Parse>
T parse_bounded(const std::string& transport, const std::string& key, const std::string& text, T min, T max,
                const char* expected, Parse parse) {
  T v{};
  try {
    std::size_t used = 0;
    v = parse(text, &used);
    if (used != text.size()) throw std::invalid_argument(key);
  } catch (const std::exception&) {
    bad(transport, key, text, expected);
  }
  if (!(v >= min && v <= max))
    bad(transport, key, text, "within [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

}  // namespace

long long OptionReader::integer(const std::string& key, long long fallback, long long min, long long max) {
  used_.insert(key);
  auto it = config_.options.find(key);
  if (it == config_.options.end()) return fallback;
  return parse_bounded<long long>(transport_, key, it->second, min, max, "an integer",
                                  [](const std::string& s, std::size_t* used) { return std::stoll(s, used); });
}

double OptionReader::number(const std::string& key, double fallback, double min, double max) {
  used_.insert(key);
  auto it = config_.options.find(key);
  if (it == config_.options.end()) return fallback;
  return parse_bounded<double>(transport_, key, it->second, min, max, "a number",
                               [](const std::string& s, std::size_t* used) { return std::stod(s, used); });
}

bool OptionReader::flag(const std::string& key, bool fallback) {
  used_.insert(key);
  auto it = config_.options.find(key);
  if (it == config_.options.end()) return fallback;
  const std::string& v = it->second;
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  bad(transport_, key, v, "a boolean (true/false)");
}

std::string OptionReader::text(const std::string& key, const std::string& fallback) {
  used_.insert(key);
  auto it = config_.options.find(key);
  return it == config_.options.end() ? fallback : it->second;
}

std::string OptionReader::choice(const std::string& key, const std::string& fallback,
                                 const std::vector<std::string>& allowed) {
  std::string v = text(key, fallback);
  for (const auto& a : allowed)
    if (a == v) return v;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  bad(transport_, key, v, "one of: " + list);
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  try {
    const std::string v(text);
    std::size_t used = 0;
    double n = std::stod(v, &used);
    std::string unit = v.substr(used);
    double factor = unit.empty() || unit == "ms" ? 1
                    : unit == "s"                ? 1000
                    : unit == "m"                ? 60'000
                    : unit == "h"                ? 3'600'000
                                                 : -1;
    // Beyond ~100 years is a typo, and would overflow on the way to a deadline.
    if (factor < 0 || !(n >= 0) || n * factor > 3.2e12) return std::nullopt;
    return std::chrono::milliseconds(static_cast<long long>(n * factor));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::chrono::milliseconds OptionReader::duration(const std::string& key, std::chrono::milliseconds fallback) {
  used_.insert(key);
  auto it = config_.options.find(key);
  if (it == config_.options.end()) return fallback;
  if (auto d = parse_duration(it->second)) return *d;
  bad(transport_, key, it->second, "a duration (250, 250ms, 2s, 1m, 1h)");
}

std::map<std::string, std::string> OptionReader::with_prefix(const std::string& prefix) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : config_.options) {
    if (k.rfind(prefix, 0) == 0) {
      used_.insert(k);
      out[k.substr(prefix.size())] = v;
    }
  }
  return out;
}

void OptionReader::finish() const {
  std::string unknown;
  for (const auto& [k, _] : config_.options)
    if (!used_.count(k)) unknown += (unknown.empty() ? "'" : ", '") + k + "'";
  if (!unknown.empty()) {
    std::string known;
    for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
    throw ConfigError(transport_ + ": unknown option " + unknown + " (known: " + known + ")");
  }
}

}  // namespace herald
