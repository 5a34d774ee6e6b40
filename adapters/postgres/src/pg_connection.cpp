#include "pg_connection.hpp"

#include "herald/config.hpp"
#include "herald/ext/options.hpp"
#include "herald/ext/store.hpp"

namespace herald::postgres {

ConnectionConfig read_config(std::string_view url) {
  StoreUrl parsed = StoreUrl::parse(url);
  if (parsed.scheme != "postgresql" && parsed.scheme != "postgres")
    throw ConfigError("postgres: url '" + redact_url(url) + "' is not postgresql://...");
  ConnectionConfig c;
  c.describe = redact_url(url);
  // herald's own options are read (and removed); the rest is libpq's.
  BusConfig mine;
  std::string passthrough;
  std::string_view text = url;
  const std::size_t query_start = url_query_start(text);
  std::string_view base = text.substr(0, query_start);
  if (auto q = query_start; q != std::string_view::npos) {
    std::string_view query = text.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view part = query.substr(0, amp);
      std::string key(part.substr(0, part.find('=')));
      if (key == "schema" || key == "pool") {
        // Url::parse percent-decodes the value.
        mine.options[key] = Url::parse("pg://h?" + std::string(part)).query[key];
      } else if (!part.empty()) {
        passthrough += (passthrough.empty() ? "?" : "&") + std::string(part);
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  OptionReader r(mine, "postgres");
  c.options.schema = r.text("schema", c.options.schema);
  c.options.pool = static_cast<int>(r.integer("pool", c.options.pool, 1, 256));
  r.finish();
  if (c.options.schema.empty()) throw ConfigError("postgres: option 'schema' must not be empty");
  c.conninfo = std::string(base) + passthrough;
  // libpq ends the userinfo at the first '/' and would quote a raw password
  // in its error ("invalid integer value "Zx" for connection option "port""):
  // hand it the userinfo as herald read it, percent-encoded.
  if (auto at = url_userinfo_end(base); at != std::string_view::npos) {
    Url u = Url::parse(base);
    c.conninfo = u.scheme + "://" + percent_encode(u.user) +
                 (base.substr(0, at).find(':', u.scheme.size() + 3) != std::string_view::npos
                      ? ":" + percent_encode(u.password)
                      : std::string()) +
                 std::string(base.substr(at)) + passthrough;
  }
  return c;
}

void throw_store_error(std::string_view what, const pqxx::sql_error& e) {
  const std::string& state = e.sqlstate();
  // 40001 serialization failure, 40P01 deadlock, 57P01 admin shutdown,
  // 08xxx connection problems: trying again can succeed.
  bool retriable = state.rfind("40", 0) == 0 || state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0;
  std::string message = e.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw StoreError("postgres: " + std::string(what) + ": " + message + (state.empty() ? "" : " [" + state + "]"),
                   retriable);
}

void throw_lost(std::string_view what, const std::exception& e) {
  std::string message = e.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw StoreError("postgres: " + std::string(what) + ": cannot connect, or the connection was lost: " + message, true);
}

std::unique_ptr<pqxx::connection> connect(const ConnectionConfig& config) {
  return guarded("connect to " + config.describe, [&] {
    auto conn = std::make_unique<pqxx::connection>(config.conninfo);
    pqxx::nontransaction n(*conn);
    n.exec("SET search_path TO " + n.quote_name(config.options.schema));
    return conn;
  });
}

Pool::Pool(ConnectionConfig config) : config_(std::move(config)) {}

std::unique_ptr<pqxx::connection> Pool::take(std::string_view) {
  {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return !idle_.empty() || open_ < config_.options.pool; });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;
  }
  try {
    return connect(config_);
  } catch (...) {
    std::lock_guard lock(mutex_);
    --open_;
    freed_.notify_one();
    throw;
  }
}

void Pool::give(std::unique_ptr<pqxx::connection> conn) noexcept {
  std::lock_guard lock(mutex_);
  if (conn && conn->is_open())
    idle_.push_back(std::move(conn));
  else
    --open_;  // broken: the next caller opens a fresh one
  freed_.notify_one();
}

namespace {

void quote_element(std::string& out, const std::string& v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string text_array(const std::vector<std::string>& values, const std::vector<bool>& nulls) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (i < nulls.size() && nulls[i])
      out += "NULL";
    else
      quote_element(out, values[i]);
  }
  return out + "}";
}

std::string bigint_array(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

std::string bool_array(const std::vector<bool>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += values[i] ? "t" : "f";
  }
  return out + "}";
}

}  // namespace herald::postgres
