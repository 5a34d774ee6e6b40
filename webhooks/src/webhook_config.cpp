// The "webhooks" array of a config file, read into subscriptions and checked
// whole before anything runs: a bad entry refuses the list, naming the entry
// and the key (never the URL or the secret).

#include <set>

#include "herald/errors.hpp"
#include "herald/ext/options.hpp"
#include "herald/pattern.hpp"
#include "herald/webhook_set.hpp"

namespace herald {

namespace {

constexpr const char* known_keys =
    "name, pattern, group, url, secret, mode, timeout, verify_tls, ca_file, max_in_flight, enabled, retry";
constexpr const char* known_retry_keys = "max_attempts, initial_delay, max_delay, multiplier, jitter";

// Whether `key` is one of the comma-separated names in `list`.
bool listed(const char* list, const std::string& key) {
  return key.find(',') == std::string::npos && (", " + std::string(list) + ",").find(", " + key + ",") != std::string::npos;
}

class EntryReader {
 public:
  EntryReader(const nlohmann::json& entry, std::string where) : entry_(entry), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& what) const { throw ConfigError("config: " + where_ + ": " + what); }

  std::string text(const std::string& key, bool required) const {
    auto it = entry_.find(key);
    if (it == entry_.end() || it->is_null()) {
      if (required) fail("'" + key + "' is required");
      return {};
    }
    if (!it->is_string()) fail("'" + key + "' must be a string");
    return it->get<std::string>();
  }
  std::optional<bool> flag(const std::string& key) const {
    auto it = entry_.find(key);
    if (it == entry_.end()) return std::nullopt;
    if (!it->is_boolean()) fail("'" + key + "' must be true or false");
    return it->get<bool>();
  }
  std::optional<std::chrono::milliseconds> duration(const nlohmann::json& object, const std::string& key) const {
    auto it = object.find(key);
    if (it == object.end()) return std::nullopt;
    auto d = it->is_string() ? parse_duration(it->get<std::string>()) : std::nullopt;
    if (!d) fail("'" + key + "' must be a duration such as \"500ms\", \"10s\" or \"5m\"");
    return d;
  }
  std::optional<long long> integer(const nlohmann::json& object, const std::string& key, long long low, long long high) const {
    auto it = object.find(key);
    if (it == object.end()) return std::nullopt;
    if (!it->is_number_integer() || it->get<long long>() < low || it->get<long long>() > high)
      fail("'" + key + "' must be a whole number from " + std::to_string(low) + " to " + std::to_string(high));
    return it->get<long long>();
  }
  std::optional<double> number(const nlohmann::json& object, const std::string& key) const {
    auto it = object.find(key);
    if (it == object.end()) return std::nullopt;
    if (!it->is_number()) fail("'" + key + "' must be a number");
    return it->get<double>();
  }

  RetryPolicy retry() const {
    RetryPolicy r;
    auto it = entry_.find("retry");
    if (it == entry_.end()) return r;
    if (!it->is_object()) fail("'retry' must be an object (" + std::string(known_retry_keys) + ")");
    for (const auto& [key, value] : it->items()) {
      (void)value;
      if (!listed(known_retry_keys, key))
        fail("retry: unknown key '" + key + "' (known: " + known_retry_keys + ")");
    }
    if (auto v = integer(*it, "max_attempts", 1, 1'000'000)) r.max_attempts = static_cast<int>(*v);
    if (auto v = duration(*it, "initial_delay")) r.initial_delay = *v;
    if (auto v = duration(*it, "max_delay")) r.max_delay = *v;
    if (auto v = number(*it, "multiplier")) r.multiplier = *v;
    if (auto v = number(*it, "jitter")) r.jitter = *v;
    try {
      r.validate();
    } catch (const ConfigError& e) {
      fail(std::string("retry: ") + e.what());
    }
    return r;
  }

 private:
  const nlohmann::json& entry_;
  std::string where_;
};

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

WebhookSubscription read_entry(const nlohmann::json& entry, std::size_t index) {
  const std::string at = "webhooks[" + std::to_string(index) + "]";
  if (!entry.is_object()) throw ConfigError("config: " + at + ": expected an object");
  for (const auto& [key, value] : entry.items()) {
    (void)value;
    if (!listed(known_keys, key))
      throw ConfigError("config: " + at + ": unknown key '" + key + "' (known: " + known_keys + ")");
  }
  WebhookSubscription s;
  s.name = EntryReader(entry, at).text("name", true);
  if (!valid_name(s.name)) throw ConfigError("config: " + at + ": 'name' must be 1-100 letters, digits, '-', '_' or '.'");
  EntryReader read(entry, at + " '" + s.name + "'");
  s.pattern = read.text("pattern", true);
  try {
    validate_pattern(s.pattern);
  } catch (const ConfigError& e) {
    read.fail(e.what());
  }
  s.group = read.text("group", false);
  if (s.group.empty()) s.group = "webhook-" + s.name;
  if (auto v = read.flag("enabled")) s.enabled = *v;
  if (auto v = read.integer(entry, "max_in_flight", 1, 1024)) s.max_in_flight = static_cast<int>(*v);
  s.retry = read.retry();

  WebhookOptions& o = s.options;
  o.name = s.name;
  o.url = read.text("url", true);
  o.secret = read.text("secret", false);
  if (auto mode = read.text("mode", false); mode == "structured") {
    o.mode = WebhookOptions::Mode::structured;
  } else if (!mode.empty() && mode != "binary") {
    read.fail("'mode' must be \"binary\" or \"structured\"");
  }
  if (auto v = read.duration(entry, "timeout")) o.timeout = *v;
  if (auto v = read.flag("verify_tls")) o.verify_tls = *v;
  o.ca_file = read.text("ca_file", false);
  // What webhook_handler refuses (URL, secret, timeout, CA file) is refused
  // now, for disabled entries too: enabling one later must not be the moment
  // its typo shows.
  try {
    (void)webhook_handler(o);
  } catch (const ConfigError& e) {
    read.fail(e.what());
  }
  return s;
}

}  // namespace

bool WebhookSubscription::same_as(const WebhookSubscription& b) const {
  const auto& x = options;
  const auto& y = b.options;
  return name == b.name && pattern == b.pattern && group == b.group && enabled == b.enabled &&
         max_in_flight == b.max_in_flight && retry.max_attempts == b.retry.max_attempts &&
         retry.initial_delay == b.retry.initial_delay && retry.multiplier == b.retry.multiplier &&
         retry.max_delay == b.retry.max_delay && retry.jitter == b.retry.jitter && x.url == y.url &&
         x.secret == y.secret && x.mode == y.mode && x.timeout == y.timeout && x.verify_tls == y.verify_tls &&
         x.ca_file == y.ca_file;
}

std::vector<WebhookSubscription> webhook_subscriptions(const nlohmann::json& section) {
  std::vector<WebhookSubscription> out;
  if (section.is_null()) return out;
  if (!section.is_array()) throw ConfigError("config: 'webhooks' must be an array of webhook subscriptions");
  std::set<std::string> names;
  for (std::size_t i = 0; i < section.size(); ++i) {
    out.push_back(read_entry(section[i], i));
    if (!names.insert(out.back().name).second)
      throw ConfigError("config: webhooks[" + std::to_string(i) + "]: the name '" + out.back().name + "' is used twice");
  }
  return out;
}

std::string webhook_endpoint_label(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "(not a URL)";
  auto host_end = url.find_first_of("/?#", scheme_end + 3);
  std::string authority = url.substr(scheme_end + 3, host_end == std::string::npos ? std::string::npos : host_end - scheme_end - 3);
  if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  return url.substr(0, scheme_end + 3) + authority + (host_end == std::string::npos ? "" : "/…");
}

}  // namespace herald
