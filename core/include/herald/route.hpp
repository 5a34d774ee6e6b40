#pragma once
// A route table: which transports an event type is published to and read
// from. It lets a service move one event family at a time from one transport
// to another by configuration alone (BusConfig::routes; herald/routed_bus.hpp).

#include <string>
#include <vector>

namespace herald {

/// One row of a route table. The first route whose pattern matches an
/// event's type is that type's route, for publishing and for reading.
///
/// \code
///   config.routes = {{.match = "order.#", .publish = {"amqp://guest:guest@mq/"}},
///                    {.match = "#", .publish = {"memory://"}}};
/// \endcode
struct Route {
  /// Type pattern: `order.#`, `payment.*`, `#`.
  std::string match;
  /// Bus URLs (query options included) the route's events are published to;
  /// at least one. Routes naming the same URL share one bus.
  std::vector<std::string> publish;
  /// Bus URLs subscribers read the route's events from; empty: the publish
  /// targets.
  std::vector<std::string> subscribe;

  const std::vector<std::string>& read_from() const noexcept { return subscribe.empty() ? publish : subscribe; }
};

/// Throws ConfigError naming the route by position and pattern
/// (`route 2 ('order.#')`) for: a bad pattern, no publish target, a target
/// that is not a URL, a target listed twice in one list, and a route that can
/// never match because the routes before it take every type it matches.
void validate_routes(const std::vector<Route>& routes);

/// `route 2 ('order.#')`, 1-based, for messages.
std::string route_name(const std::vector<Route>& routes, std::size_t index);

}  // namespace herald
