#include "admin_routes.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

namespace herald::cli {

namespace {

constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;
// Quoted request text is cut here: an error names the input, it does not echo it.
constexpr std::size_t max_quoted = 64;

using Query = std::map<std::string, std::string, std::less<>>;

// Whatever the strings hold (request bytes, store data, exception texts),
// the reply is valid UTF-8: invalid bytes become U+FFFD instead of throwing.
std::string safe_dump(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

AdminReply json_reply(int status, const nlohmann::json& body) { return {status, "application/json", safe_dump(body)}; }

AdminReply error_reply(int status, const std::string& message) { return json_reply(status, {{"error", message}}); }

std::string quote(std::string_view text) {
  if (text.size() <= max_quoted) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, max_quoted)) + "...' (" + std::to_string(text.size()) + " bytes)";
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; in a query (form encoding) '+' is a space as well.
std::string decode(std::string_view text, bool plus_is_space, const char* what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      int high = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
      int low = high >= 0 ? hex_digit(text[i + 2]) : -1;
      if (low < 0) throw ConfigError(std::string("bad percent escape in the ") + what + " at byte " + std::to_string(i));
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += plus_is_space && c == '+' ? ' ' : c;
    }
  }
  return out;
}

Query parse_query(std::string_view text) {
  Query query;
  while (!text.empty()) {
    auto amp = text.find('&');
    std::string_view part = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string key = decode(part.substr(0, eq), true, "query");
    std::string value = eq == std::string_view::npos ? std::string() : decode(part.substr(eq + 1), true, "query");
    if (key.empty()) throw ConfigError("empty parameter name in the query");
    if (!query.emplace(key, std::move(value)).second) throw ConfigError("parameter " + quote(key) + " is given twice");
  }
  return query;
}

std::string param(const Query& query, std::string_view name) {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

std::size_t parse_limit(const Query& query) {
  std::string text = param(query, "limit");
  if (text.empty()) return default_limit;
  std::size_t limit = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (ec != std::errc() || end != text.data() + text.size() || limit == 0 || limit > max_limit)
    throw ConfigError("limit " + quote(text) + " must be a whole number from 1 to " + std::to_string(max_limit));
  return limit;
}

void gauge(std::ostringstream& out, const char* name, const char* help, double value) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n" << name << ' ' << value << '\n';
}

AdminReply health(EventStore& store) {
  try {
    store.count_pending();
    return json_reply(200, {{"status", "ok"}, {"store", store.describe()}});
  } catch (const std::exception& e) {
    return json_reply(503, {{"status", "unavailable"}, {"error", e.what()}});
  }
}

AdminReply metrics(EventStore& store, const Metrics* bus_metrics) {
  std::ostringstream out;
  if (bus_metrics) out << bus_metrics->prometheus();
  OutboxStatus st = store.backlog();  // every scrape: no count of delivered rows
  double age = 0;
  if (st.oldest_pending)
    age = std::max(0.0, std::chrono::duration<double>(now_micros() - *st.oldest_pending).count());
  gauge(out, "outbox_pending", "Outbox events not delivered yet (including those waiting for a retry).",
        static_cast<double>(st.pending));
  gauge(out, "outbox_retrying", "Pending outbox events whose publish failed at least once.",
        static_cast<double>(st.retrying));
  gauge(out, "outbox_dead", "Outbox events the relay gave up on.", static_cast<double>(st.dead));
  gauge(out, "outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox event (0 when none).", age);
  return {200, "text/plain; version=0.0.4", out.str()};
}

AdminReply events(EventStore& store, std::string_view query_text) {
  Query query = parse_query(query_text);
  for (const auto& [key, _] : query)
    if (key != "aggregateType" && key != "aggregateId" && key != "cursor" && key != "limit")
      throw ConfigError("unknown parameter " + quote(key) + " (known: aggregateType, aggregateId, cursor, limit)");
  std::string type = param(query, "aggregateType"), id = param(query, "aggregateId"), cursor = param(query, "cursor");
  std::size_t limit = parse_limit(query);
  if (type.empty() != id.empty()) throw ConfigError("aggregateType and aggregateId go together");
  EventPage page;
  if (!type.empty()) {
    page = store.timeline(type, id, cursor, limit);
  } else {
    // Every event in position order, with the same kind of cursor.
    std::int64_t after = cursor.empty() ? 0 : parse_cursor(cursor);
    ScanResult scan = store.scan({}, after, limit + 1);
    for (auto& row : scan.events) {
      if (page.events.size() == limit) {
        page.next_cursor = make_cursor(page.events.back().position);
        break;
      }
      page.events.push_back(std::move(row));
    }
  }
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : page.events) items.push_back(row.to_json());
  return json_reply(200, {{"events", std::move(items)},
                          {"nextCursor", page.next_cursor.empty() ? nlohmann::json(nullptr)
                                                                  : nlohmann::json(page.next_cursor)}});
}

AdminReply event(EventStore& store, std::string_view encoded_id) {
  std::string id = decode(encoded_id, false, "path");
  auto row = store.find(id);
  if (!row) return error_reply(404, "no event with id " + quote(id));
  return json_reply(200, row->to_json());
}

AdminReply route(std::string_view method, std::string_view target, EventStore& store, const Metrics* bus_metrics) {
  if (method != "GET" && method != "HEAD") return error_reply(405, "only GET is served");
  auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  if (path == "/healthz") return health(store);
  if (path == "/metrics") return metrics(store, bus_metrics);
  if (path == "/v1/events") return events(store, query);
  constexpr std::string_view prefix = "/v1/events/";
  if (path.substr(0, prefix.size()) == prefix && path.size() > prefix.size())
    return event(store, path.substr(prefix.size()));
  return error_reply(404, "no such resource: " + quote(path));
}

}  // namespace

AdminReply route_admin_request(std::string_view method, std::string_view target, EventStore& store,
                               const Metrics* metrics) noexcept {
  try {
    try {
      return route(method, target, store, metrics);
    } catch (const ConfigError& e) {
      return error_reply(400, e.what());
    } catch (const NotFoundError& e) {
      return error_reply(404, e.what());
    } catch (const Error& e) {
      return error_reply(e.retriable() ? 503 : 500, e.what());
    } catch (const std::exception& e) {
      return error_reply(500, e.what());
    } catch (...) {
      return error_reply(500, "internal error");
    }
  } catch (...) {
    // Building the error reply failed too (out of memory): the shortest answer.
    return {500, "application/json", R"({"error":"internal error"})"};
  }
}

}  // namespace herald::cli
