// Dual publish through the outbox: each publish target of a route with
// several keeps its own deliveries, relayed straight to its own bus.

#include <algorithm>
#include <map>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "herald/routed_bus.hpp"

namespace herald {

void deliver_per_target(OutboxBusOptions& options, const RoutedBus& routed, EventStore* store) {
  // Per route: the delivery names of its targets, empty for a route with one
  // target (its events go through the routed bus as a whole).
  const auto& routes = routed.routes();
  auto names = std::make_shared<std::vector<std::vector<std::string>>>(routes.size());
  std::map<std::string, std::string> url_of;  // name → URL, to refuse two URLs with one name
  bool dual = false;
  for (std::size_t r = 0; r < routes.size(); ++r) {
    const Route& route = routes[r];
    if (route.publish.size() < 2) continue;
    dual = true;
    std::vector<std::string> list;
    for (const auto& url : route.publish) {
      std::string name = redact_url(url);
      auto [it, added] = url_of.emplace(name, url);
      if (added) {
        options.targets.push_back({name, &routed.target(url)});
      } else if (it->second != url) {
        throw ConfigError("config: outbox: targets '" + name +
                          "' differ only in a secret; the outbox names deliveries by the redacted URL");
      }
      list.push_back(std::move(name));
    }
    (*names)[r] = std::move(list);
  }
  // Deliveries a former table made (a dual route since cut over) still go
  // out to their target while some route names it: pending ones, and dead
  // ones an operator may replay.
  if (store) {
    std::vector<std::string> recorded;
    for (const auto& t : store->target_status(false))
      if (t.status.pending > 0 || t.status.dead > 0) recorded.push_back(t.target);
    for (const auto& route : routes)
      for (const auto* list : {&route.publish, &route.subscribe})
        for (const auto& url : *list) {
          std::string name = redact_url(url);
          if (std::find(recorded.begin(), recorded.end(), name) == recorded.end()) continue;
          if (url_of.emplace(name, url).second) options.targets.push_back({name, &routed.target(url)});
        }
  }
  if (!dual) return;
  // `routed` is the OutboxBus's transport: it lives as long as the bus.
  options.targets_of = [names, &routed](const Envelope& event) -> std::vector<std::string> {
    const Route* route = routed.route_for(event.type);
    if (!route) return {};
    return (*names)[static_cast<std::size_t>(route - routed.routes().data())];
  };
}

}  // namespace herald
