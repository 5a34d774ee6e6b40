#include "herald/route.hpp"

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/pattern.hpp"
#include "route_config.hpp"

extern char** environ;

namespace herald {

std::string route_name(const std::vector<Route>& routes, std::size_t index) {
  return "route " + std::to_string(index + 1) + " ('" + (index < routes.size() ? routes[index].match : "?") + "')";
}

namespace {

void check_targets(const std::vector<Route>& routes, std::size_t i, const std::vector<std::string>& urls,
                   const char* list) {
  std::set<std::string> seen;
  for (const auto& url : urls) {
    try {
      Url::parse(url);
    } catch (const ConfigError& ex) {
      throw ConfigError("config: " + route_name(routes, i) + ": " + list + " target: " + ex.what());
    }
    if (!seen.insert(url).second)
      throw ConfigError("config: " + route_name(routes, i) + ": " + list + " names '" + redact_url(url) + "' twice");
  }
}

}  // namespace

void validate_routes(const std::vector<Route>& routes) {
  std::vector<std::string> earlier;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const Route& r = routes[i];
    try {
      validate_pattern(r.match);
    } catch (const ConfigError& ex) {
      throw ConfigError("config: " + route_name(routes, i) + ": " + ex.what());
    }
    if (r.publish.empty()) throw ConfigError("config: " + route_name(routes, i) + ": 'publish' names no target");
    check_targets(routes, i, r.publish, "publish");
    check_targets(routes, i, r.subscribe, "subscribe");
    // A type belongs to the first route that matches it, so a route whose
    // every type an earlier route matches is dead configuration: most likely
    // the routes are in the wrong order.
    if (!earlier.empty()) {
      std::optional<std::string> own;
      try {
        own = find_type({r.match}, earlier);
      } catch (const ConfigError& ex) {
        throw ConfigError("config: " + route_name(routes, i) + ": " + ex.what());
      }
      if (!own) {
        std::string by;
        for (std::size_t j = 0; j < i; ++j)
          if (patterns_intersect(routes[j].match, r.match)) by += (by.empty() ? "" : ", ") + route_name(routes, j);
        throw ConfigError("config: " + route_name(routes, i) + " can never match: every type it matches goes to " +
                          by + " before it (put the narrower route first)");
      }
    }
    earlier.push_back(r.match);
  }
}

namespace detail {

namespace {

std::vector<std::string> json_targets(const nlohmann::json& v, const std::string& where, const char* key) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return out;
  }
  if (!v.is_array()) throw ConfigError("config: " + where + ": '" + key + "' must be a URL or a list of URLs");
  for (const auto& t : v) {
    if (!t.is_string()) throw ConfigError("config: " + where + ": '" + key + "' must list URLs as strings");
    out.push_back(t.get<std::string>());
  }
  return out;
}

std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

constexpr std::string_view env_prefix = "HERALD_ROUTE_";

}  // namespace

std::vector<Route> routes_from_json(const nlohmann::json& j) {
  if (!j.is_array()) throw ConfigError("config: 'routes' must be a list of routes");
  std::vector<Route> routes;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& r = j[i];
    std::string where = "route " + std::to_string(i + 1);
    if (!r.is_object()) throw ConfigError("config: " + where + ": expected an object");
    if (auto m = r.find("match"); m != r.end() && m->is_string()) where += " ('" + m->get<std::string>() + "')";
    Route route;
    bool has_match = false, has_publish = false;
    for (const auto& [key, value] : r.items()) {
      if (key == "match") {
        if (!value.is_string()) throw ConfigError("config: " + where + ": 'match' must be a type pattern");
        route.match = value.get<std::string>();
        has_match = true;
      } else if (key == "publish") {
        route.publish = json_targets(value, where, "publish");
        has_publish = true;
      } else if (key == "subscribe") {
        route.subscribe = json_targets(value, where, "subscribe");
      } else {
        throw ConfigError("config: " + where + ": unknown key '" + key + "' (known: match, publish, subscribe)");
      }
    }
    if (!has_match) throw ConfigError("config: " + where + ": 'match' is missing");
    if (!has_publish) throw ConfigError("config: " + where + ": 'publish' is missing");
    routes.push_back(std::move(route));
  }
  if (routes.empty()) throw ConfigError("config: 'routes' is empty (omit it and give 'url' for one transport)");
  return routes;
}

bool route_env_set() {
  for (char** env = environ; env && *env; ++env)
    if (std::string_view(*env).substr(0, env_prefix.size()) == env_prefix) return true;
  return false;
}

std::vector<Route> routes_from_env() {
  std::map<long, Route> numbered;
  std::map<long, std::string> match_variable;
  for (char** env = environ; env && *env; ++env) {
    std::string_view entry(*env);
    if (entry.substr(0, env_prefix.size()) != env_prefix) continue;
    const auto eq = entry.find('=');
    const std::string name(entry.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "" : entry.substr(eq + 1));
    const std::string rest = name.substr(env_prefix.size());
    const auto underscore = rest.find('_');
    const std::string number = rest.substr(0, underscore);
    const std::string field = underscore == std::string::npos ? "" : rest.substr(underscore + 1);
    const bool numeric = !number.empty() && number.size() < 6 && number.find_first_not_of("0123456789") == std::string::npos;
    if (!numeric || (field != "MATCH" && field != "PUBLISH" && field != "SUBSCRIBE"))
      throw ConfigError("config: unknown variable " + name +
                        " (known: HERALD_ROUTE_<n>_MATCH, HERALD_ROUTE_<n>_PUBLISH, HERALD_ROUTE_<n>_SUBSCRIBE)");
    Route& route = numbered[std::stol(number)];
    if (field == "MATCH") route.match = value;
    else if (field == "PUBLISH") route.publish = split_spaces(value);
    else route.subscribe = split_spaces(value);
  }
  std::vector<Route> routes;
  for (auto& [n, route] : numbered) {
    const std::string var = std::string(env_prefix) + std::to_string(n);
    // Numbered 1, 2, 3… so that "route 2" in a message is HERALD_ROUTE_2_*.
    if (n != static_cast<long>(routes.size()) + 1)
      throw ConfigError("config: " + var + "_* is set but HERALD_ROUTE_" + std::to_string(routes.size() + 1) +
                        "_* is not (number routes 1, 2, 3… in the order they apply)");
    if (route.match.empty()) throw ConfigError("config: " + var + "_MATCH is missing or empty");
    if (route.publish.empty()) throw ConfigError("config: " + var + "_PUBLISH is missing or empty");
    routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace detail

}  // namespace herald
