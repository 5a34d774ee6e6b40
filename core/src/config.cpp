#include "herald/config.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include "herald/catalog.hpp"
#include "herald/errors.hpp"
#include "herald/event_store.hpp"
#include "herald/ext/options.hpp"
#include "herald/ext/transport.hpp"
#include "herald/outbox.hpp"
#include "herald/routed_bus.hpp"
#include "registry.hpp"
#include "route_config.hpp"

extern char** environ;

namespace herald {

namespace {

constexpr std::size_t npos = std::string_view::npos;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `plus_is_space` only for the query (form encoding); in userinfo and path a
// '+' is itself (RFC 3986). Errors never quote the text: it may be a password.
std::string percent_decode(std::string_view s, const char* what, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
      int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
      if (lo < 0) throw ConfigError(std::string(what) + ": bad percent escape");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The index in `tail` (the text after "://") of the '@' that ends the
// userinfo, or npos. RFC 3986: the last '@' of the authority, which ends at
// the first '/' or '?'. Users paste passwords raw, though, and a raw '/', '@'
// or '?' in one would end that authority early or late ("app:Zx/9+Qa@host/"
// would read as host "app", port "Zx"), so when the authority looks like
// "user:pass…" or holds an '@', the last '@' before the path ends the userinfo.
std::size_t userinfo_end(std::string_view tail) {
  const std::string_view authority = tail.substr(0, tail.find_first_of("/?"));
  if (authority.empty() || authority.front() == '[') return npos;  // no userinfo, or an IPv6 literal
  const std::size_t colon = authority.find(':');
  const bool has_at = authority.find('@') != npos;
  if (colon == npos && !has_at) return npos;
  // A raw '/' or '@' in the password: the last '@' before the query.
  const std::string_view before_query = tail.substr(0, tail.find('?'));
  if (auto at = before_query.rfind('@'); at != npos) return at;
  // A raw '?' in the password; but "host:5432?user=me@corp" is a query.
  if (colon == npos || all_digits(authority.substr(colon + 1))) return npos;
  for (auto at = tail.rfind('@'); at != npos && at > colon; at = tail.rfind('@', at - 1)) {
    std::string_view host = tail.substr(at + 1);
    host = host.substr(0, host.find_first_of("/?"));
    if (host.find_first_of("=&") == npos) return at;
  }
  return npos;
}

std::size_t scheme_end(std::string_view url) {
  auto sep = url.find("://");
  return sep == npos ? npos : sep + 3;
}

std::string redact_query(std::string_view query) {
  std::string out;
  while (true) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto eq = part.find('=');
    std::string key;
    try {
      key = percent_decode(part.substr(0, eq), "", true);
    } catch (const ConfigError&) {
      key = std::string(part.substr(0, eq));
    }
    if (eq != npos && is_secret_option(key)) out.append(part.substr(0, eq + 1)) += "***";
    else out.append(part);
    if (amp == npos) return out;
    out += '&';
    query.remove_prefix(amp + 1);
  }
}

}  // namespace

bool is_secret_option(std::string_view key) {
  std::string k;
  for (char c : key) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto has = [&](std::string_view part) { return k.find(part) != std::string::npos; };
  return has("password") || has("passwd") || has("secret") || has("token") || has("sasl.jaas") ||
         has("oauthbearer.config") || (has("key") && has(".pem"));
}

std::size_t url_userinfo_end(std::string_view url) {
  const std::size_t start = scheme_end(url);
  if (start == npos) return npos;
  const std::size_t at = userinfo_end(url.substr(start));
  return at == npos ? npos : start + at;
}

std::size_t url_query_start(std::string_view url) {
  std::size_t from = url_userinfo_end(url);
  return url.find('?', from == npos ? 0 : from);
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {

std::string json_scalar(const nlohmann::json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  throw ConfigError("config: option '" + key + "' must be a string, number or boolean");
}

}  // namespace

Url Url::parse(std::string_view text) {
  Url u;
  const std::size_t start = scheme_end(text);
  if (start == npos || start == 3) throw ConfigError("url '" + redact_url(text) + "': expected scheme://...");
  u.scheme = std::string(text.substr(0, start - 3));
  std::string_view rest = text.substr(start);
  if (auto at = userinfo_end(rest); at != npos) {
    std::string_view info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = info.find(':');
    u.user = percent_decode(info.substr(0, colon), "url user", false);
    if (colon != npos) u.password = percent_decode(info.substr(colon + 1), "url password", false);
  }
  if (auto q = rest.find('?'); q != npos) {
    std::string_view query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view part = query.substr(0, amp);
      if (!part.empty()) {
        auto eq = part.find('=');
        std::string key = percent_decode(part.substr(0, eq), "url query", true);
        std::string value = eq == npos ? "true" : percent_decode(part.substr(eq + 1), "url query", true);
        if (key.empty()) throw ConfigError("url query: empty option name");
        u.query[key] = value;
      }
      if (amp == npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  std::string_view authority = rest;
  if (auto slash = rest.find('/'); slash != npos) {
    authority = rest.substr(0, slash);
    u.path = percent_decode(rest.substr(slash + 1), "url path", false);
  }
  u.host = std::string(authority);
  if (authority.find(',') == npos) {
    auto colon = authority.rfind(':');
    if (colon != npos && authority.find(']') == npos) {
      std::string_view port = authority.substr(colon + 1);
      u.host = std::string(authority.substr(0, colon));
      // Not quoted: without an '@' a pasted "user:password" reads as host:port.
      if (!all_digits(port) || port.size() > 5 || std::stoi(std::string(port)) < 1 ||
          std::stoi(std::string(port)) > 65535)
        throw ConfigError("url '" + redact_url(text) + "': bad port (expected a number from 1 to 65535)");
      u.port = std::stoi(std::string(port));
    }
  }
  return u;
}

std::string redact_url(std::string_view url) {
  std::string out;
  std::string_view rest = url;
  if (const std::size_t start = scheme_end(url); start != npos) {
    out.append(url.substr(0, start));
    rest = url.substr(start);
    if (auto at = userinfo_end(rest); at != npos) {
      std::string_view info = rest.substr(0, at);
      auto colon = info.find(':');
      out.append(info.substr(0, colon));
      if (colon != npos) out += ":***";
      out += '@';
      rest = rest.substr(at + 1);
    }
    // Without userinfo, "user:password" would print as host:port.
    std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    auto colon = authority.rfind(':');
    if (colon != npos && authority.find_first_of(",]") == npos && !all_digits(authority.substr(colon + 1)) &&
        colon + 1 < authority.size()) {
      out.append(authority.substr(0, colon + 1)) += "***";
      rest = rest.substr(authority.size());
    }
  }
  auto q = rest.find('?');
  out.append(rest.substr(0, q));
  if (q != npos) out.append("?") += redact_query(rest.substr(q + 1));
  return out;
}

BusConfig BusConfig::from_url(std::string_view url) {
  BusConfig c;
  Url u = Url::parse(url);
  c.url = std::string(url.substr(0, url_query_start(url)));
  c.options = u.query;
  return c;
}

namespace {

bool parse_flag(const std::string& text, bool& out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return out = true, true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return out = false, true;
  return false;
}

void read_outbox(const nlohmann::json& value, BusConfig& c) {
  if (value.is_string()) {
    c.outbox = value.get<std::string>();
  } else if (value.is_object()) {
    for (const auto& [key, v] : value.items()) {
      if (key == "store" && v.is_string()) c.outbox = v.get<std::string>();
      else if (key == "relay" && v.is_boolean()) c.outbox_relay = v.get<bool>();
      else if (key == "store" || key == "relay")
        throw ConfigError(std::string("config: outbox '") + key + "' must be " +
                          (key == "store" ? "an event store URL" : "true or false"));
      else throw ConfigError("config: outbox: unknown key '" + key + "' (known: store, relay)");
    }
  } else {
    throw ConfigError("config: 'outbox' must be an event store URL or {\"store\": URL, \"relay\": bool}");
  }
  if (c.outbox.empty()) throw ConfigError("config: outbox: 'store' is missing or empty");
  Url::parse(c.outbox);
}

void read_dedup_store(const std::string& store, BusConfig& c) {
  if (store.empty()) throw ConfigError("config: dedup: 'store' is empty (\"memory\" or an idempotency store URL)");
  if (store != "memory") Url::parse(store);
  c.dedup_store = store;
}

void read_dedup_window(const std::string& text, BusConfig& c) {
  auto window = parse_duration(text);
  if (!window || window->count() == 0)
    throw ConfigError("config: dedup: window '" + text + "' is not a duration (30s, 10m, 1h)");
  c.dedup_window = *window;
}

void read_dedup(const nlohmann::json& value, BusConfig& c) {
  if (!value.is_object()) throw ConfigError("config: 'dedup' must be {\"store\": \"memory\" or URL, \"window\": \"1h\"}");
  for (const auto& [key, v] : value.items()) {
    if (key != "store" && key != "window")
      throw ConfigError("config: dedup: unknown key '" + key + "' (known: store, window)");
    if (!v.is_string()) throw ConfigError("config: dedup: '" + key + "' must be a string");
    if (key == "store") read_dedup_store(v.get<std::string>(), c);
    else read_dedup_window(v.get<std::string>(), c);
  }
}

// "schemas": "/path" or {"path": "/path", "unknown": "allow|warn|refuse",
// "at_publish": bool, "on_receipt": bool}: the catalog is read (and every
// schema compiled) here, once, so a bad schema stops the service at start.
void read_schemas(const nlohmann::json& value, BusConfig& c) {
  std::string path;
  CatalogOptions options;
  if (value.is_string()) {
    path = value.get<std::string>();
  } else if (value.is_object()) {
    for (const auto& [key, v] : value.items()) {
      if (key == "path" && v.is_string()) path = v.get<std::string>();
      else if (key == "unknown" && v.is_string()) options.unknown = unknown_schema_from(v.get<std::string>());
      else if (key == "at_publish" && v.is_boolean()) options.at_publish = v.get<bool>();
      else if (key == "on_receipt" && v.is_boolean()) options.on_receipt = v.get<bool>();
      else if (key == "path" || key == "unknown" || key == "at_publish" || key == "on_receipt")
        throw ConfigError("config: schemas: '" + key + "' must be " +
                          (key == "path" || key == "unknown" ? "a string" : "true or false"));
      else throw ConfigError("config: schemas: unknown key '" + key + "' (known: path, unknown, at_publish, on_receipt)");
    }
  } else {
    throw ConfigError("config: 'schemas' must be a folder or {\"path\": folder, \"unknown\": \"allow|warn|refuse\"}");
  }
  if (path.empty()) throw ConfigError("config: schemas: 'path' is missing or empty");
  c.decode.catalog = std::make_shared<const Catalog>(Catalog::load(path, options));
}

// "log": "json" or {"format": "json", "level": "debug"}.
void read_log(const nlohmann::json& value, BusConfig& c) {
  if (value.is_string()) {
    c.log = LogOptions::parse(value.get<std::string>(), "");
    return;
  }
  if (!value.is_object()) throw ConfigError("config: 'log' must be text|json|off or {\"format\": …, \"level\": …}");
  std::string format, level;
  for (const auto& [key, v] : value.items()) {
    if (key != "format" && key != "level") throw ConfigError("config: log: unknown key '" + key + "' (known: format, level)");
    if (!v.is_string()) throw ConfigError("config: log: '" + key + "' must be a string");
    (key == "format" ? format : level) = v.get<std::string>();
  }
  c.log = LogOptions::parse(format, level);
}

// HERALD_LOG / HERALD_LOG_LEVEL, over what the file said.
void read_log_env(BusConfig& c) {
  const char* format = std::getenv("HERALD_LOG");
  const char* level = std::getenv("HERALD_LOG_LEVEL");
  if (!(format && *format) && !(level && *level)) return;
  LogOptions o = c.log.value_or(LogOptions{});
  LogOptions env = LogOptions::from_env();
  if (format && *format) o.format = env.format;
  if (level && *level) o.level = env.level;
  c.log = o;
}

// ${NAME} and ${NAME:-fallback} in a configuration file's strings, so that
// one file serves every environment and passwords stay out of it.
std::string expand_variables(const std::string& text, const std::string& where) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    auto start = text.find("${", i);
    if (start == std::string::npos) break;
    auto end = text.find('}', start);
    if (end == std::string::npos) throw ConfigError("config: " + where + ": '${' without a closing '}'");
    out.append(text, i, start - i);
    std::string name = text.substr(start + 2, end - start - 2);
    std::optional<std::string> fallback;
    if (auto dash = name.find(":-"); dash != std::string::npos) {
      fallback = name.substr(dash + 2);
      name.resize(dash);
    }
    bool valid = !name.empty();
    for (char ch : name) valid &= std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
    if (!valid) throw ConfigError("config: " + where + ": '${" + name + "}' is not a variable name");
    const char* value = std::getenv(name.c_str());
    if (value && *value) out += value;
    else if (fallback) out += *fallback;
    else throw ConfigError("config: " + where + ": environment variable " + name + " is not set (write ${" + name +
                           ":-default} for a default)");
    i = end + 1;
  }
  out.append(text, i);
  return out;
}

void expand_variables(nlohmann::json& j, const std::string& where) {
  if (j.is_string()) {
    j = expand_variables(j.get<std::string>(), where);
  } else if (j.is_object()) {
    for (auto& [key, value] : j.items()) expand_variables(value, where.empty() ? key : where + "." + key);
  } else if (j.is_array()) {
    for (std::size_t k = 0; k < j.size(); ++k) expand_variables(j[k], where + "[" + std::to_string(k) + "]");
  }
}

}  // namespace

BusConfig BusConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ConfigError("config: expected a JSON object");
  if (j.contains("routes")) {
    // One place says where events go.
    if (j.contains("url")) throw ConfigError("config: 'url' and 'routes' both given: use one");
    if (j.contains("options"))
      throw ConfigError("config: 'options' apply to 'url'; with 'routes' give each target's options in its URL's query");
  }
  BusConfig c;
  for (const auto& [key, value] : j.items()) {
    if (key == "routes") {
      c.routes = detail::routes_from_json(value);
      continue;
    }
    if (key == "outbox") {
      read_outbox(value, c);
      continue;
    }
    if (key == "dedup") {
      read_dedup(value, c);
      continue;
    }
    if (key == "schemas") {
      read_schemas(value, c);
      continue;
    }
    if (key == "webhooks") {
      // Kept as written: herald::webhooks reads it (webhook_subscriptions),
      // as core cannot link the HTTP client.
      if (!value.is_array()) throw ConfigError("config: 'webhooks' must be an array of webhook subscriptions");
      c.webhooks = value;
      continue;
    }
    if (key == "ingress") {
      // Likewise herald::admin's (IngressOptions::from_json).
      if (!value.is_object()) throw ConfigError("config: 'ingress' must be an object (docs/webhooks.md, \"Ingress\")");
      c.ingress = value;
      continue;
    }
    if (key == "log") {
      read_log(value, c);
      continue;
    }
    if (key == "url") {
      if (!value.is_string()) throw ConfigError("config: 'url' must be a string");
      c = [&, url = value.get<std::string>()] {
        BusConfig parsed = from_url(url);
        parsed.options.merge(c.options);
        parsed.source = c.source;
        parsed.decode = c.decode;
        parsed.outbox = c.outbox;
        parsed.outbox_relay = c.outbox_relay;
        parsed.dedup_store = c.dedup_store;
        parsed.dedup_window = c.dedup_window;
        parsed.webhooks = c.webhooks;
        parsed.ingress = c.ingress;
        parsed.log = c.log;
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
      throw ConfigError("config: unknown key '" + key +
                        "' (known: url, source, max_data_bytes, options, routes, outbox, dedup, schemas, webhooks, ingress, log)");
    }
  }
  if (!c.routes.empty()) validate_routes(c.routes);
  return c;
}

BusConfig BusConfig::from_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot read '" + path.string() + "'");
  try {
    auto json = nlohmann::json::parse(in);
    expand_variables(json, "");
    return from_json(json);
  } catch (const nlohmann::json::parse_error& ex) {
    throw ConfigError("config '" + path.string() + "': malformed JSON: " + ex.what());
  }
}

BusConfig BusConfig::from_env() {
  if (const char* file = std::getenv("HERALD_CONFIG"); file && *file) {
    // Two places saying where events go is how a migration step goes wrong.
    std::string beside;
    for (const char* name : {"HERALD_URL", "HERALD_SOURCE", "HERALD_MAX_DATA_BYTES", "HERALD_OUTBOX_STORE",
                             "HERALD_OUTBOX_RELAY", "HERALD_DEDUP_STORE", "HERALD_DEDUP_WINDOW",
                             "HERALD_SCHEMAS", "HERALD_SCHEMAS_UNKNOWN"})
      if (const char* v = std::getenv(name); v && *v) beside += (beside.empty() ? "" : ", ") + std::string(name);
    for (char** env = environ; env && *env; ++env) {
      std::string_view entry(*env);
      for (std::string_view prefix : {"HERALD_OPT_", "HERALD_ROUTE_"})
        if (entry.substr(0, prefix.size()) == prefix)
          beside += (beside.empty() ? "" : ", ") + std::string(entry.substr(0, entry.find('=')));
    }
    if (!beside.empty())
      throw ConfigError("HERALD_CONFIG names the configuration file, so " + beside +
                        " must not be set beside it (put it in the file)");
    BusConfig from_the_file = from_file(file);
    read_log_env(from_the_file);
    return from_the_file;
  }
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
  c.routes = detail::routes_from_env();
  if (!c.routes.empty()) {
    if (const char* url = std::getenv("HERALD_URL"); url && *url)
      throw ConfigError("config: HERALD_URL and HERALD_ROUTE_* both set: use one");
    if (!c.options.empty())
      throw ConfigError("config: HERALD_OPT_* apply to HERALD_URL; with HERALD_ROUTE_* give each target's options in its URL's query");
    validate_routes(c.routes);
  }
  if (const char* store = std::getenv("HERALD_OUTBOX_STORE"); store && *store) {
    c.outbox = store;
    Url::parse(c.outbox);
  }
  if (const char* store = std::getenv("HERALD_DEDUP_STORE"); store && *store) read_dedup_store(store, c);
  if (const char* window = std::getenv("HERALD_DEDUP_WINDOW"); window && *window) read_dedup_window(window, c);
  if (const char* schemas = std::getenv("HERALD_SCHEMAS"); schemas && *schemas) {
    nlohmann::json spec = {{"path", schemas}};
    if (const char* unknown = std::getenv("HERALD_SCHEMAS_UNKNOWN"); unknown && *unknown) spec["unknown"] = unknown;
    read_schemas(spec, c);
  } else if (const char* unknown = std::getenv("HERALD_SCHEMAS_UNKNOWN"); unknown && *unknown) {
    throw ConfigError("config: HERALD_SCHEMAS_UNKNOWN is set but HERALD_SCHEMAS is not");
  }
  if (const char* relay = std::getenv("HERALD_OUTBOX_RELAY"); relay && *relay) {
    if (c.outbox.empty()) throw ConfigError("config: HERALD_OUTBOX_RELAY is set but HERALD_OUTBOX_STORE is not");
    if (!parse_flag(relay, c.outbox_relay))
      throw ConfigError(std::string("HERALD_OUTBOX_RELAY: '") + relay + "' is not true or false");
  }
  read_log_env(c);
  return c;
}

namespace {

std::unique_ptr<EventBus> make_transport(const BusConfig& config) {
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

}  // namespace

std::unique_ptr<EventBus> make_bus(const BusConfig& config) {
  if (config.log) configure_logs(*config.log);
  if (config.outbox.empty()) return config.routes.empty() ? make_transport(config) : make_routed_bus(config);
  // The outbox in front is the bus the application sees: it takes the
  // configured metrics, the transport(s) behind it keep their own.
  BusConfig behind = config;
  behind.outbox.clear();
  behind.metrics = nullptr;
  OutboxBusOptions options;
  options.run_relay = config.outbox_relay;
  std::unique_ptr<EventBus> transport;
  RoutedBus* routed_bus = nullptr;
  if (config.routes.empty()) {
    transport = make_transport(behind);
  } else {
    auto routed = make_routed_bus(behind);
    // An event no route takes is refused at publish, not dead in the store.
    options.check = [r = routed.get()](const std::vector<Envelope>& events) { r->check_routed(events); };
    routed_bus = routed.get();
    transport = std::move(routed);
  }
  std::shared_ptr<EventStore> store;
  try {
    store = open_event_store(config.outbox);
  } catch (const ConfigError& ex) {
    throw ConfigError(std::string("config: outbox: ") + ex.what());
  }
  // Dual routes: each target keeps its own delivery state in the store.
  if (routed_bus) deliver_per_target(options, *routed_bus, store.get());
  return std::make_unique<OutboxBus>(std::move(store), std::move(transport), std::move(options), config.metrics,
                                     config.source);
}

std::unique_ptr<EventBus> make_bus(std::string_view url) { return make_bus(BusConfig::from_url(url)); }

}  // namespace herald
