#pragma once
// The admin endpoint a service starts next to its bus and store: Prometheus
// metrics, liveness and readiness, the event timeline and dead letters over
// HTTP (docs/observability.md, "Admin endpoint"). Target herald::admin.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "herald/bus.hpp"
#include "herald/event_store.hpp"
#include "herald/ingress.hpp"

namespace herald::admin {

/// How the endpoint listens and what it serves.
struct Options {
  /// host:port ("[::1]:9464" for IPv6); port 0 picks a free one
  /// (Server::port()). Loopback by default: reads need no token.
  std::string listen = "127.0.0.1:9464";
  /// The event store of the service's outbox: /v1/events, the outbox gauges
  /// and the relay check of /readyz. Null: an OutboxBus's own store, else
  /// those are left out (404).
  std::shared_ptr<EventStore> store;
  /// Bearer token of the mutating routes (POST …/replay, …/purge).
  /// nullopt: the HERALD_ADMIN_TOKEN environment variable; empty (or the
  /// variable unset): the mutating routes answer 403 — off.
  std::optional<std::string> token;
  /// Groups whose backlog /metrics and /readyz report, each with the
  /// pattern it subscribes to: {"billing", "order.#"} (Kafka counts the lag
  /// of the topics the pattern maps to; queues ignore it). Empty: the groups
  /// that ran a handler on this bus so far, with the family of the types
  /// they handled ("order.#"), or "#" when they handled several.
  std::vector<std::pair<std::string, std::string>> groups;
  /// /readyz answers 503 while the oldest pending outbox event is older.
  std::chrono::seconds max_relay_lag{60};
  /// Connections served at once; one more is answered 503 and closed.
  std::size_t max_connections = 64;
  /// Largest request line plus header fields; beyond it: 431 and closed.
  std::uint32_t max_header_bytes = 8 * 1024;
  /// Largest request body of the routes other than the ingress (none reads
  /// one); beyond it: 413 and closed.
  std::uint64_t max_body_bytes = 16 * 1024;
  /// Set: POST /v1/events takes CloudEvents and publishes them to the bus
  /// (herald/ingress.hpp, docs/webhooks.md "Ingress"); nullopt: off (405).
  /// Needs a bus (start(bus, ...)). Its max_body_bytes bounds that route.
  std::optional<IngressOptions> ingress;
  /// A connection that does not complete a request within this time is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
  /// Told, on the server's thread, what went wrong beside a request (accept
  /// failures, an unexpected exception); must not throw. Null: not reported.
  std::function<void(const std::string&)> on_error;
};

/// A running endpoint: one thread of its own, from start() until stop() or
/// destruction. Requests are answered one at a time (a scrape that asks a
/// broker for a group's backlog holds the others).
class Server {
 public:
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The port it listens on (the chosen one when Options::listen asked for 0).
  std::uint16_t port() const noexcept;
  /// Stops accepting, closes connections, joins the thread. Idempotent.
  void stop();

  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

/// Starts the endpoint for `bus` (which must outlive the returned Server:
/// destroy or stop the Server first). Serves:
///   GET  /                        the dashboard: one self-contained HTML page
///   GET  /v1/summary              /metrics per group and the outbox, as JSON
///   GET  /metrics                 Prometheus text: the bus's herald_* series
///                                 (label transport = the bus's name), each
///                                 group's backlog, the outbox gauges
///   GET  /healthz                 200 while the process serves (and the store answers)
///   GET  /readyz                  200 when every group's transport answers and
///                                 holds the group, and the relay keeps up; else
///                                 503, with the failing check named
///   GET  /v1/events?aggregateType=&aggregateId=&cursor=&limit=
///   GET  /v1/events/{id}
///   GET  /v1/dead-letters/{group}?limit=      the group's dead letters, oldest first
///   GET  /v1/dead-letters/{group}/{id}        one of them
///   POST /v1/dead-letters/{group}/replay[?id=] publishes them again (token)
///   POST /v1/dead-letters/{group}/purge       drops them (token)
///   POST /v1/events               CloudEvents in (Options::ingress): 202 when
///                                 stored by an OutboxBus, 200 when the transport
///                                 accepted them; 400/401/413/415/429 refusals
/// Throws ConfigError for a bad `listen`, TransportError when it cannot bind.
///
/// \code
///   auto bus = herald::make_bus(herald::BusConfig::from_env());
///   auto admin = herald::admin::start(*bus, {.listen = "127.0.0.1:9464", .store = store});
/// \endcode
std::unique_ptr<Server> start(EventBus& bus, Options options = {});

/// The endpoint without a bus (a store browser: events, outbox gauges,
/// health); the dead-letter routes answer 404.
std::unique_ptr<Server> start(Options options);

}  // namespace herald::admin
