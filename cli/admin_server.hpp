#pragma once
// The HTTP admin behind `herald serve`: events, health and metrics of an
// event store. A library so tests can start it on an ephemeral port.

#include <cstdint>
#include <memory>
#include <string>

#include "herald/event_store.hpp"
#include "herald/metrics.hpp"

namespace herald::cli {

struct AdminOptions {
  /// Loopback unless told otherwise: the admin has no authentication.
  std::string address = "127.0.0.1";
  /// 0: an ephemeral port (see AdminServer::port()).
  std::uint16_t port = 8080;
};

/// Serves, on a thread of its own from construction to destruction:
///   GET /v1/events?aggregateType=&aggregateId=&cursor=&limit=
///       a page of one aggregate's timeline (or of every event, without an
///       aggregate): {"events": [...], "nextCursor": "..." | null}
///   GET /v1/events/{id}   one event, 404 when absent
///   GET /healthz          200 when the store answers, else 503
///   GET /metrics          Prometheus text: `metrics` (when given) and the
///                         outbox gauges (pending, retrying, dead, oldest age)
/// Bad parameters get 400 with {"error": "..."}. Requests are handled one at
/// a time. Throws TransportError when the address cannot be bound.
///
/// \code
///   auto metrics = std::make_shared<herald::Metrics>();   // BusConfig::metrics of the relay's bus
///   herald::cli::AdminServer admin(herald::open_event_store(url), metrics, {.port = 0});
///   std::cout << "listening on " << admin.port() << '\n';
/// \endcode
class AdminServer {
 public:
  AdminServer(std::shared_ptr<EventStore> store, std::shared_ptr<const Metrics> metrics, AdminOptions options = {});
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

}  // namespace herald::cli
