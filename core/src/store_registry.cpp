// The registry of event store schemes, and opening stores by URL.

#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

namespace herald {

namespace {

struct StoreRegistry {
  std::mutex mutex;
  std::map<std::string, StoreFactories> factories;
};

// Function-local so adapters' static initializers can use it in any order.
StoreRegistry& store_registry() {
  static StoreRegistry r;
  return r;
}

StoreFactories find_store(std::string_view url) {
  StoreUrl parsed = StoreUrl::parse(url);
  auto& r = store_registry();
  std::lock_guard lock(r.mutex);
  auto it = r.factories.find(parsed.scheme);
  if (it != r.factories.end()) return it->second;
  std::string known;
  for (const auto& [scheme, _] : r.factories) known += (known.empty() ? "" : ", ") + scheme + ":";
  throw ConfigError("store url '" + redact_url(url) + "': unknown store '" + parsed.scheme + ":' (registered: " +
                    (known.empty() ? "none; link herald::sqlite or herald::postgres" : known) + ")");
}

}  // namespace

void register_store(const std::string& scheme, StoreFactories factories) {
  auto& r = store_registry();
  std::lock_guard lock(r.mutex);
  r.factories[scheme] = std::move(factories);
}

std::vector<std::string> registered_stores() {
  auto& r = store_registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> out;
  for (const auto& [scheme, _] : r.factories) out.push_back(scheme);
  return out;
}

StoreUrl StoreUrl::parse(std::string_view url) {
  auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0)
    throw ConfigError("store url '" + redact_url(url) + "': expected scheme:... (sqlite:///path.db, postgresql://...)");
  StoreUrl u;
  u.scheme = std::string(url.substr(0, colon));
  for (char c : u.scheme)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.'))
      throw ConfigError("store url '" + redact_url(url) + "': bad scheme '" + u.scheme + "'");
  std::string_view rest = url.substr(colon + 1);
  // Not the first '?': one may be inside a password pasted raw.
  if (auto q = url_query_start(url); q != std::string_view::npos && q > colon) {
    // Url::parse does the percent-decoding of query options.
    u.query = Url::parse("store://host?" + std::string(url.substr(q + 1))).query;
    rest = url.substr(colon + 1, q - colon - 1);
  }
  u.rest = std::string(rest);
  return u;
}

std::shared_ptr<EventStore> open_event_store(std::string_view url) {
  auto factories = find_store(url);
  if (!factories.event_store) throw ConfigError("store url '" + redact_url(url) + "': this store holds no events");
  return factories.event_store(url);
}

std::shared_ptr<IdempotencyStore> open_idempotency_store(std::string_view url, IdempotencyStoreOptions options) {
  if (options.ttl <= std::chrono::milliseconds::zero())
    throw ConfigError("idempotency store: ttl must be positive");
  if (options.claim_timeout <= std::chrono::milliseconds::zero())
    throw ConfigError("idempotency store: claim_timeout must be positive");
  auto factories = find_store(url);
  if (!factories.idempotency_store)
    throw ConfigError("store url '" + redact_url(url) + "': this store has no idempotency table");
  return factories.idempotency_store(url, options);
}

std::string store_url_from_env(const std::string& fallback) {
  const char* v = std::getenv("HERALD_STORE_URL");
  return v && *v ? std::string(v) : fallback;
}

}  // namespace herald
