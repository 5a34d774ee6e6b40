#pragma once
// Reading route tables and the outbox setting from JSON and the environment
// (BusConfig::from_json / from_env).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/route.hpp"

namespace herald::detail {

/// {"match": "order.#", "publish": [...], "subscribe": [...]} objects; a
/// target list may also be one string. Unknown keys are refused by route.
std::vector<Route> routes_from_json(const nlohmann::json& routes);

/// HERALD_ROUTE_<n>_MATCH / _PUBLISH / _SUBSCRIBE (target lists separated by
/// spaces), ordered by n. Empty when none is set.
std::vector<Route> routes_from_env();

/// Whether any HERALD_ROUTE_ variable is set (for refusing it beside HERALD_CONFIG).
bool route_env_set();

}  // namespace herald::detail
