#pragma once
// Choosing and configuring a transport at start-up.

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/bus.hpp"
#include "herald/codec.hpp"
#include "herald/log.hpp"
#include "herald/metrics.hpp"
#include "herald/route.hpp"
#include "herald/scheduler.hpp"

namespace herald {

/// Everything make_bus needs. The scheme of `url` picks the transport
/// (memory://, amqp://, amqps://, kafka://); `options` are the transport's
/// typed options in text form, checked once by the transport, which refuses
/// unknown keys. Keys prefixed `kafka.` or `amqp.` pass through to the client.
/// With `routes`, a route table picks the transports per event type instead
/// (docs/configuration.md); with `outbox`, publishing appends to an event
/// store and a relay delivers.
///
/// \code
///   auto bus = herald::make_bus(herald::BusConfig::from_env());   // HERALD_URL=... or HERALD_CONFIG=file
///   auto bus2 = herald::make_bus("memory://?workers=4&queue_limit=10000");
/// \endcode
struct BusConfig {
  std::string url = "memory://";
  std::map<std::string, std::string> options;
  /// Ordered route table (herald/route.hpp); when not empty it replaces
  /// `url`, and `options` must be empty (each target's URL carries its own).
  std::vector<Route> routes;
  /// Event store URL (sqlite:///…, postgresql://…); when set, publish()
  /// appends there (OutboxBus) and a relay delivers to the transport(s).
  std::string outbox;
  /// Run the outbox relay in this process; false when a separate
  /// `herald outbox relay` delivers.
  bool outbox_relay = true;
  /// Where a group reading one route from two targets (dual publish, a
  /// drain after a cut-over) marks the events it applied, to apply each
  /// once: "memory" (this process) or an idempotency store URL
  /// (sqlite:///…, postgresql://…) the group's processes share.
  std::string dedup_store = "memory";
  /// How long a mark is kept: longer than one target may lag the other.
  std::chrono::milliseconds dedup_window = std::chrono::hours(1);
  /// CloudEvents `source` for events published without one.
  std::string source = "herald";
  DecodeOptions decode;
  /// Null: real time.
  std::shared_ptr<Scheduler> scheduler;
  /// Null: the bus makes its own.
  std::shared_ptr<Metrics> metrics;
  /// The config file's "webhooks" array as written (an array or null):
  /// herald::webhooks reads it (herald/webhook_set.hpp), `herald run` runs it.
  nlohmann::json webhooks;
  /// The "ingress" object as written (or null): herald::admin reads it
  /// (IngressOptions::from_json), `herald run` serves POST /v1/events with it.
  nlohmann::json ingress;
  /// How the process logs (herald/log.hpp), applied by make_bus; unset:
  /// left as it is (HERALD_LOG and HERALD_LOG_LEVEL, read at the first line).
  std::optional<LogOptions> log;

  /// URL with query options: `memory://?workers=4`. Option values are
  /// percent-decoded; the query is removed from `url`.
  static BusConfig from_url(std::string_view url);
  /// {"url": "...", "source": "...", "max_data_bytes": N, "options": {...},
  ///  "routes": [{"match": "order.#", "publish": [...], "subscribe": [...]}],
  ///  "outbox": "sqlite:///…" or {"store": "…", "relay": false},
  ///  "schemas": "schemas/events" or {"path": "…", "unknown": "warn"},
  ///  "webhooks": [{"name": "…", "pattern": "order.*", "url": "…"}, …],
  ///  "ingress": {"token": "${INGRESS_TOKEN}", "rate_per_second": 200},
  ///  "log": "json" or {"format": "text|json|off", "level": "debug|info|warn|error"}};
  /// unknown keys, `url` or `options` beside `routes`, and bad or shadowed
  /// routes are refused by name.
  static BusConfig from_json(const nlohmann::json& json);
  static BusConfig from_file(const std::filesystem::path& path);
  /// HERALD_CONFIG=<file>: the file is the whole configuration (the other
  /// variables below are refused beside it). Otherwise HERALD_URL (default
  /// memory://), HERALD_SOURCE, HERALD_MAX_DATA_BYTES, HERALD_OPT_<KEY>=value
  /// for options (KEY lower-cased, '__' → '.'), HERALD_ROUTE_<n>_MATCH /
  /// _PUBLISH / _SUBSCRIBE for routes (URLs separated by spaces),
  /// HERALD_OUTBOX_STORE and HERALD_OUTBOX_RELAY (true/false), HERALD_SCHEMAS
  /// (the event catalog's folder, loaded into decode.catalog) and
  /// HERALD_SCHEMAS_UNKNOWN (allow, warn, refuse). HERALD_LOG (text, json,
  /// off) and HERALD_LOG_LEVEL (debug, info, warn, error) are read in both
  /// cases and win over the file's "log".
  static BusConfig from_env();
};

/// Builds the bus for `config`: the transport of `url`, or a RoutedBus over
/// `routes`, behind an OutboxBus when `outbox` is set. Throws ConfigError for
/// an unknown scheme (naming the registered ones), for bad options (naming
/// the key) and for a bad route table (naming the route).
std::unique_ptr<EventBus> make_bus(const BusConfig& config);
std::unique_ptr<EventBus> make_bus(std::string_view url);

/// The parts of a URL; password kept apart so it is never printed. User,
/// password and path are percent-decoded as they are ('+' stays '+'); query
/// values also read '+' as a space (form encoding).
struct Url {
  std::string scheme;
  std::string user;
  std::string password;
  std::string host;       // may hold several hosts: "h1:9092,h2:9092"
  int port = 0;           // 0 when absent or when several hosts are given
  std::string path;       // without the leading '/', percent-decoded
  std::map<std::string, std::string> query;
  static Url parse(std::string_view url);
};

/// `url` with every credential replaced by `***`: the userinfo password, and
/// the value of each query option that names a secret (is_secret_option).
/// Safe for logs, errors and status pages; never throws for any input.
std::string redact_url(std::string_view url);

/// Whether an option or property of this name holds a credential
/// (`password`, `sasl.password`, `ssl.key.password`, secrets, tokens, keys).
bool is_secret_option(std::string_view key);

/// The index of the '@' that ends the userinfo of `url`, or npos. Per RFC 3986
/// the last '@' of the authority; a password pasted raw with '/' or '?' in it
/// (`amqp://app:Zx/9+Qa@host/`) is read as the user meant it.
std::size_t url_userinfo_end(std::string_view url);
/// The index of the '?' that starts the query of `url` (not one inside the
/// password), or npos.
std::size_t url_query_start(std::string_view url);
/// Percent-encodes every byte but RFC 3986's unreserved characters.
std::string percent_encode(std::string_view text);

}  // namespace herald
