#include "herald/config.hpp"

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "herald/errors.hpp"
#include "herald/transport.hpp"
#include "registry.hpp"

extern char** environ;

namespace herald {

namespace {

std::string percent_decode(std::string_view s, const char* what) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      auto hex = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        throw ConfigError(std::string(what) + ": bad percent escape");
      };
      if (i + 2 >= s.size()) throw ConfigError(std::string(what) + ": bad percent escape");
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string json_scalar(const nlohmann::json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw ConfigError("config: option '" + key + "' must be a string, number or boolean");
}

}  // namespace

Url Url::parse(std::string_view text) {
  Url u;
  auto sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0)
    throw ConfigError("url '" + redact_url(text) + "': expected scheme://...");
  u.scheme = std::string(text.substr(0, sep));
  std::string_view rest = text.substr(sep + 3);
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
      auto amp = query.find('&', start);
      std::string_view part = query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
      if (!part.empty()) {
        auto eq = part.find('=');
        std::string key = percent_decode(part.substr(0, eq), "url query");
        std::string value = eq == std::string_view::npos ? "true" : percent_decode(part.substr(eq + 1), "url query");
        if (key.empty()) throw ConfigError("url query: empty option name");
        u.query[key] = value;
      }
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
  }
  std::string_view authority = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    u.path = percent_decode(rest.substr(slash + 1), "url path");
  }
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = info.find(':');
    u.user = percent_decode(info.substr(0, colon), "url user");
    if (colon != std::string_view::npos) u.password = percent_decode(info.substr(colon + 1), "url password");
  }
  u.host = std::string(authority);
  if (authority.find(',') == std::string_view::npos) {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
      std::string port(authority.substr(colon + 1));
      u.host = std::string(authority.substr(0, colon));
      try {
        std::size_t used = 0;
        u.port = std::stoi(port, &used);
        if (used != port.size() || u.port < 1 || u.port > 65535) throw std::invalid_argument(port);
      } catch (const std::exception&) {
        throw ConfigError("url '" + redact_url(text) + "': bad port '" + port + "'");
      }
    }
  }
  return u;
}

std::string redact_url(std::string_view url) {
  std::string s(url);
  auto sep = s.find("://");
  if (sep == std::string::npos) return s;
  auto auth_end = s.find_first_of("/?", sep + 3);
  auto at = s.rfind('@', auth_end == std::string::npos ? std::string::npos : auth_end);
  if (at == std::string::npos || at < sep) return s;
  auto colon = s.find(':', sep + 3);
  if (colon == std::string::npos || colon > at) return s;
  return s.substr(0, colon + 1) + "***" + s.substr(at);
}

BusConfig BusConfig::from_url(std::string_view url) {
  BusConfig c;
  Url u = Url::parse(url);
  std::string s(url);
  auto q = s.find('?');
  c.url = q == std::string::npos ? s : s.substr(0, q);
  c.options = u.query;
  return c;
}

BusConfig BusConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ConfigError("config: expected a JSON object");
  BusConfig c;
  for (const auto& [key, value] : j.items()) {
    if (key == "url") {
      if (!value.is_string()) throw ConfigError("config: 'url' must be a string");
      c = [&] {
        BusConfig parsed = from_url(value.get<std::string>());
        parsed.options.merge(c.options);
        parsed.source = c.source;
        parsed.decode = c.decode;
        return parsed;
      }();
    } else if (key == "source") {
      if (!value.is_string()) throw ConfigError("config: 'source' must be a string");
      c.source = value.get<std::string>();
    } else if (key == "max_data_bytes") {
      if (!value.is_number_unsigned()) throw ConfigError("config: 'max_data_bytes' must be a positive integer");
      c.decode.max_data_bytes = value.get<std::size_t>();
    } else if (key == "options") {
      if (!value.is_object()) throw ConfigError("config: 'options' must be an object");
      for (const auto& [k, v] : value.items()) c.options[k] = json_scalar(v, k);
    } else {
      throw ConfigError("config: unknown key '" + key + "' (known: url, source, max_data_bytes, options)");
    }
  }
  return c;
}

BusConfig BusConfig::from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot read '" + path.string() + "'");
  try {
    return from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::parse_error& ex) {
    throw ConfigError("config '" + path.string() + "': malformed JSON: " + ex.what());
  }
}

BusConfig BusConfig::from_env() {
  BusConfig c;
  if (const char* url = std::getenv("HERALD_URL"); url && *url) c = from_url(url);
  if (const char* src = std::getenv("HERALD_SOURCE"); src && *src) c.source = src;
  if (const char* max = std::getenv("HERALD_MAX_DATA_BYTES"); max && *max) {
    try {
      std::size_t used = 0;
      long long v = std::stoll(max, &used);
      if (used != std::string(max).size() || v <= 0) throw std::invalid_argument(max);
      c.decode.max_data_bytes = static_cast<std::size_t>(v);
    } catch (const std::exception&) {
      throw ConfigError(std::string("HERALD_MAX_DATA_BYTES: '") + max + "' is not a positive integer");
    }
  }
  for (char** env = environ; env && *env; ++env) {
    std::string_view entry(*env);
    constexpr std::string_view prefix = "HERALD_OPT_";
    if (entry.substr(0, prefix.size()) != prefix) continue;
    auto eq = entry.find('=');
    std::string key(entry.substr(prefix.size(), eq - prefix.size()));
    std::string normalised;
    for (std::size_t i = 0; i < key.size(); ++i) {
      if (key[i] == '_' && i + 1 < key.size() && key[i + 1] == '_') {
        normalised += '.';
        ++i;
      } else {
        normalised += static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
      }
    }
    c.options[normalised] = std::string(entry.substr(eq + 1));
  }
  return c;
}

std::unique_ptr<EventBus> make_bus(const BusConfig& config) {
  Url u = Url::parse(config.url);
  TransportFactory factory = detail::find_transport(u.scheme);
  if (!factory) {
    std::string known;
    for (const auto& s : registered_transports()) known += (known.empty() ? "" : ", ") + s + "://";
    throw ConfigError("url '" + redact_url(config.url) + "': unknown transport '" + u.scheme +
                      "://' (registered: " + (known.empty() ? "none; link herald::memory" : known) + ")");
  }
  return factory(config);
}

std::unique_ptr<EventBus> make_bus(std::string_view url) { return make_bus(BusConfig::from_url(url)); }

}  // namespace herald
