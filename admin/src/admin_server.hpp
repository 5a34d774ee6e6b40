#pragma once
// The HTTP server of the admin endpoint (herald/admin.hpp, `herald serve`):
// sockets, limits and timeouts around route_admin_request.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <vector>

#include "admin_routes.hpp"
#include "herald/event_store.hpp"
#include "herald/metrics.hpp"

namespace herald::admin {

struct AdminOptions {
  /// Loopback unless told otherwise: the admin has no authentication.
  std::string address = "127.0.0.1";
  /// 0: an ephemeral port (see AdminServer::port()).
  std::uint16_t port = 8080;
  /// Connections served at once; one more is answered 503 and closed.
  std::size_t max_connections = 128;
  /// Largest request line plus header fields; beyond it: 431 and closed.
  std::uint32_t max_header_bytes = 8 * 1024;
  /// Largest request body (no route reads one); beyond it: 413 and closed.
  std::uint64_t max_body_bytes = 64 * 1024;
  /// Largest body of POST /v1/events when the context has an ingress.
  std::uint64_t max_ingress_body_bytes = 1024 * 1024;
  /// A connection that does not complete a request within this time (idle
  /// between requests, or sending one slowly) is closed.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  /// Told, on the server's thread, what went wrong beside a request (accept
  /// failures, an unexpected exception); must not throw. Null: not reported.
  std::function<void(const std::string&)> on_error;
};

/// Serves, on a thread of its own from construction to destruction:
///   GET /v1/events?aggregateType=&aggregateId=&cursor=&limit=
///       a page of one aggregate's timeline (or of every event, without an
///       aggregate): {"events": [...], "nextCursor": "..." | null}
///   GET /v1/events/{id}   one event, 404 when absent
///   GET /healthz          200 when the store answers, else 503
///   GET /metrics          Prometheus text: `metrics` (when given) and the
///                         outbox gauges (pending, retrying, dead, oldest age)
/// Bad parameters get 400 with {"error": "..."} (see route_admin_request);
/// no request can stop the server: a failing handler answers 500, a failed
/// accept (out of file descriptors) is retried after a pause, connections
/// beyond `max_connections` get 503, oversize or idle ones are closed.
/// Requests are handled one at a time. Throws TransportError when the
/// address cannot be bound.
///
/// \code
///   auto metrics = std::make_shared<herald::Metrics>();   // BusConfig::metrics of the relay's bus
///   herald::admin::AdminServer admin(herald::open_event_store(url), metrics, {.port = 0});
///   std::cout << "listening on " << admin.port() << '\n';
/// \endcode
class AdminServer {
 public:
  /// The store-only endpoint over `store` (not null) and `metrics` (may be null).
  AdminServer(std::shared_ptr<EventStore> store, std::shared_ptr<const Metrics> metrics, AdminOptions options = {});
  /// The endpoint over `context`, whose pointees must outlive the server
  /// unless `keep` holds them.
  AdminServer(AdminContext context, AdminOptions options, std::vector<std::shared_ptr<const void>> keep = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  std::uint16_t port() const noexcept;
  /// Stops accepting and closes connections; joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::admin
