#include "admin_routes.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <locale>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "dashboard_page.hpp"
#include "herald/errors.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/store.hpp"

namespace herald::admin {

namespace {

constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;
// Quoted request text is cut here: an error names the input, it does not echo it.
constexpr std::size_t max_quoted = 64;
constexpr std::size_t max_letters_searched = 10000;

using Query = std::map<std::string, std::string, std::less<>>;

// Whatever the strings hold (request bytes, store data, exception texts),
// the reply is valid UTF-8: invalid bytes become U+FFFD instead of throwing.
std::string safe_dump(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

AdminReply error_reply(int status, const std::string& message) { return json_reply(status, {{"error", message}}); }

}  // namespace

AdminReply json_reply(int status, const nlohmann::json& body) { return {status, "application/json", safe_dump(body)}; }

bool same_token(std::string_view given, std::string_view expected) noexcept {
  if (expected.empty()) return false;
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

namespace {

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

void gauge_family(std::ostringstream& out, const char* name, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n";
}

std::string label(std::string_view key, const std::string& value) {
  // Label values from the store and the bus: made valid UTF-8 (a round trip
  // through JSON's replacing dump), then escaped per the exposition format.
  std::string text = nlohmann::json::parse(safe_dump(nlohmann::json(value))).get<std::string>();
  std::string out = std::string(key) + "=\"";
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out + '"';
}

std::string labels(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    out += (out.empty() ? "" : ",") + p;
  }
  return out.empty() ? std::string() : "{" + out + "}";
}

// The groups whose backlog is reported, with their patterns: the configured
// ones, else those that ran a handler here (a relay's dead rows count under
// "outbox": not a group), with "family.#" when every type they handled is of
// one family (Kafka reads a family's topic), else "#".
std::vector<std::pair<std::string, std::string>> groups_of(const AdminContext& context) {
  if (!context.groups.empty()) return context.groups;
  std::map<std::string, std::set<std::string>> families;
  if (context.metrics)
    for (const auto& [key, c] : context.metrics->snapshot().consumed)
      if (key.second != "outbox" && (c.delivered > 0 || c.failed_attempts > 0))
        families[key.second].insert(key.first.substr(0, key.first.find('.')));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [group, seen] : families)
    out.emplace_back(group, seen.size() == 1 ? *seen.begin() + ".#" : std::string("#"));
  return out;
}

struct GroupReading {
  std::string group;
  bool answered = false;
  GroupBacklog backlog;
  std::string error;
};

std::vector<GroupReading> read_groups(const AdminContext& context) {
  std::vector<GroupReading> out;
  if (!context.bus) return out;
  for (const auto& [group, pattern] : groups_of(context)) {
    GroupReading r;
    r.group = group;
    try {
      r.backlog = context.bus->backlog(group, pattern);
      r.answered = true;
    } catch (const std::exception& e) {
      r.error = e.what();  // transports redact their URLs in errors
    }
    out.push_back(std::move(r));
  }
  return out;
}

void consumer_gauges(std::ostringstream& out, const AdminContext& context) {
  auto readings = read_groups(context);
  if (readings.empty()) return;
  std::string transport = context.transport.empty() ? std::string() : label("transport", context.transport);
  gauge_family(out, "herald_consumer_backlog_up",
               "1 when the transport answered the group's backlog query on this scrape, else 0.");
  for (const auto& r : readings)
    out << "herald_consumer_backlog_up" << labels({transport, label("group", r.group)}) << ' ' << (r.answered ? 1 : 0)
        << '\n';
  struct Figure {
    const char* name;
    const char* help;
    std::uint64_t GroupBacklog::*field;
  };
  for (const Figure& f :
       {Figure{"herald_consumer_lag_messages",
               "Events published to the group and not handled yet (Kafka: high watermark minus committed offset, "
               "summed over partitions; RabbitMQ: ready messages of the group's queue).",
               &GroupBacklog::pending},
        Figure{"herald_consumer_retrying_messages",
               "Events of the group waiting for another run (delay queues, retry topics, timers).",
               &GroupBacklog::retrying},
        Figure{"herald_consumer_dead_letter_messages", "Dead letters the group holds.", &GroupBacklog::dead}}) {
    gauge_family(out, f.name, f.help);
    for (const auto& r : readings)
      if (r.answered && r.backlog.known)
        out << f.name << labels({transport, label("group", r.group)}) << ' ' << r.backlog.*f.field << '\n';
  }
}

double age_seconds(const OutboxStatus& st) {
  if (!st.oldest_pending) return 0;
  return std::max(0.0, std::chrono::duration<double>(now_micros() - *st.oldest_pending).count());
}

void outbox_gauges(std::ostringstream& out, EventStore& store) {
  // The row's own delivery (no target label) and each dual-publish target's.
  std::vector<TargetStatus> all{{std::string(), store.backlog()}};  // every scrape: no count of delivered rows
  for (auto& t : store.target_status(false))
    if (!t.target.empty()) all.push_back(std::move(t));
  struct Figure {
    const char* name;
    const char* help;
    double (*value)(const OutboxStatus&);
  };
  for (const Figure& f : {
           Figure{"herald_outbox_pending_messages",
                  "Outbox events not delivered yet (including those waiting for a retry).",
                  [](const OutboxStatus& s) { return static_cast<double>(s.pending); }},
           Figure{"herald_outbox_retrying_messages", "Pending outbox events whose publish failed at least once.",
                  [](const OutboxStatus& s) { return static_cast<double>(s.retrying); }},
           Figure{"herald_outbox_dead_messages", "Outbox events the relay gave up on.",
                  [](const OutboxStatus& s) { return static_cast<double>(s.dead); }},
           Figure{"herald_outbox_oldest_pending_age_seconds",
                  "Age of the oldest pending outbox event (0 when none).", &age_seconds}}) {
    gauge_family(out, f.name, f.help);
    for (const auto& t : all)
      out << f.name << labels({t.target.empty() ? std::string() : label("target", t.target)}) << ' ' << f.value(t.status)
          << '\n';
  }
}

AdminReply metrics(const AdminContext& context) {
  std::ostringstream out;
  out.imbue(std::locale::classic());
  if (context.metrics) {
    MetricsSnapshot counts = context.metrics->snapshot();
    if (context.verdicts) counts.add_verdicts_of(context.verdicts->snapshot());
    out << counts.prometheus(context.transport);
  }
  consumer_gauges(out, context);
  if (context.store) outbox_gauges(out, *context.store);
  return {200, "text/plain; version=0.0.4; charset=utf-8", out.str()};
}

AdminReply health(const AdminContext& context) {
  if (!context.store) return json_reply(200, {{"status", "ok"}});
  try {
    context.store->count_pending();
    return json_reply(200, {{"status", "ok"}, {"store", context.store->describe()}});
  } catch (const std::exception& e) {
    return json_reply(503, {{"status", "unavailable"}, {"error", e.what()}});
  }
}

// Ready to take traffic: the transport answers for each group and holds
// something for it (its queue or committed offsets exist: consumers were
// assigned), and the relay keeps up.
AdminReply readiness(const AdminContext& context) {
  nlohmann::json checks = nlohmann::json::array();
  bool ready = true;
  auto check = [&](std::string name, bool ok, nlohmann::json detail) {
    ready = ready && ok;
    checks.push_back({{"check", std::move(name)}, {"ok", ok}, {"detail", std::move(detail)}});
  };
  if (context.bus) {
    for (const auto& r : read_groups(context)) {
      if (!r.answered)
        check("group " + r.group, false, "the transport did not answer: " + r.error);
      else if (r.backlog.known && !r.backlog.exists)
        check("group " + r.group, false, "no consumer of the group on the transport yet");
      else
        check("group " + r.group, true, {{"pending", r.backlog.pending}, {"retrying", r.backlog.retrying}});
    }
  }
  if (context.store) {
    try {
      OutboxStatus st = context.store->backlog();
      double age = age_seconds(st);
      check("relay", age <= static_cast<double>(context.max_relay_lag.count()),
            {{"pending", st.pending},
             {"oldestPendingAgeSeconds", age},
             {"maxRelayLagSeconds", context.max_relay_lag.count()}});
    } catch (const std::exception& e) {
      check("store", false, std::string("the store did not answer: ") + e.what());
    }
  }
  return json_reply(ready ? 200 : 503, {{"status", ready ? "ready" : "not ready"}, {"checks", std::move(checks)}});
}

// What the dashboard (GET /) polls: the figures of /metrics summed per
// group, so the page needs no Prometheus text parser. Counters are totals
// since start (the page turns them into rates); backlog figures are null when
// the transport did not answer.
AdminReply summary(const AdminContext& context) {
  nlohmann::json groups = nlohmann::json::object();
  auto entry = [&](const std::string& group) -> nlohmann::json& {
    nlohmann::json& g = groups[group];
    if (g.is_null())
      g = {{"group", group},      {"consumed", 0},  {"failed", 0},        {"retries", 0},
           {"deadLetters", 0},    {"deadByReason", nlohmann::json::object()},
           {"lag", nullptr},      {"retrying", nullptr}, {"deadHeld", nullptr}, {"backlogUp", nullptr}};
    return g;
  };
  std::uint64_t published = 0;
  if (context.metrics) {
    MetricsSnapshot counts = context.metrics->snapshot();
    if (context.verdicts) counts.add_verdicts_of(context.verdicts->snapshot());
    published = counts.total_published();
    std::set<std::string> names;
    for (const auto& [key, _] : counts.consumed) names.insert(key.second);
    for (const auto& group : names) {
      MetricsSnapshot::Consumer t = counts.total(group);
      nlohmann::json& g = entry(group);
      g["consumed"] = t.delivered;
      g["failed"] = t.failed_attempts;
      g["retries"] = t.retried;
      g["deadLetters"] = t.dead_lettered;
      std::uint64_t by_reason = 0;
      for (std::size_t i = 0; i < t.dead_by_reason.size(); ++i) {
        if (t.dead_by_reason[i] == 0) continue;
        by_reason += t.dead_by_reason[i];
        g["deadByReason"][std::string(wire_name(static_cast<DeadLetterReason>(i)))] = t.dead_by_reason[i];
      }
      if (t.dead_lettered > by_reason) g["deadByReason"]["unknown"] = t.dead_lettered - by_reason;
    }
  }
  for (const auto& r : read_groups(context)) {
    nlohmann::json& g = entry(r.group);
    g["backlogUp"] = r.answered;
    if (!r.answered || !r.backlog.known) continue;
    g["lag"] = r.backlog.pending;
    g["retrying"] = r.backlog.retrying;
    g["deadHeld"] = r.backlog.dead;
  }
  nlohmann::json list = nlohmann::json::array();
  for (auto& [_, g] : groups.items()) list.push_back(std::move(g));
  nlohmann::json outbox = nullptr;
  if (context.store) {
    // A store that cannot answer leaves the groups on the page.
    try {
      OutboxStatus st = context.store->backlog();
      outbox = {{"pending", st.pending},
                {"retrying", st.retrying},
                {"dead", st.dead},
                {"oldestPendingAgeSeconds", age_seconds(st)}};
    } catch (const std::exception& e) {
      outbox = {{"error", std::string("the store did not answer: ") + e.what()}};
    }
  }
  return json_reply(200, {{"transport", context.transport},
                          {"time", std::chrono::duration<double>(now_micros().time_since_epoch()).count()},
                          {"published", published},
                          {"groups", std::move(list)},
                          {"outbox", std::move(outbox)},
                          {"events", context.store != nullptr},
                          {"deadLetters", context.bus != nullptr},
                          {"replay", !context.token.empty()}});
}

// The page itself: one document, its script and style allowed by hash only,
// talking to this origin alone.
AdminReply dashboard() {
  AdminReply reply{200, "text/html; charset=utf-8", std::string(dashboard_page())};
  reply.headers = {{"Content-Security-Policy", std::string(dashboard_csp())},
                   {"X-Content-Type-Options", "nosniff"},
                   {"Referrer-Policy", "no-referrer"},
                   {"X-Frame-Options", "DENY"}};
  return reply;
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

// nullopt: allowed; else the refusal.
std::optional<AdminReply> refuse_unauthorised(const AdminRequest& request, const AdminContext& context) {
  if (context.token.empty())
    return error_reply(403, "mutating routes are off: start the admin endpoint with a token (HERALD_ADMIN_TOKEN)");
  constexpr std::string_view scheme = "Bearer ";
  std::string_view given = request.authorization;
  if (given.size() < scheme.size() || !std::equal(scheme.begin(), scheme.end(), given.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      }))
    return error_reply(401, "this route needs 'Authorization: Bearer <token>'");
  if (!same_token(given.substr(scheme.size()), context.token)) return error_reply(401, "the token is not the admin's");
  return std::nullopt;
}

EventBus& bus_of(const AdminContext& context) {
  if (!context.bus) throw NotFoundError("dead letters: this admin endpoint has no bus");
  return *context.bus;
}

AdminReply dead_letter_list(const AdminContext& context, const std::string& group, std::string_view query_text) {
  Query query = parse_query(query_text);
  for (const auto& [key, _] : query)
    if (key != "limit") throw ConfigError("unknown parameter " + quote(key) + " (known: limit)");
  auto letters = bus_of(context).dead_letters(group, parse_limit(query));
  nlohmann::json items = nlohmann::json::array();
  for (const auto& letter : letters) items.push_back(letter.to_json());
  return json_reply(200, {{"group", group}, {"deadLetters", std::move(items)}});
}

AdminReply dead_letter_show(const AdminContext& context, const std::string& group, const std::string& id) {
  // Looked for among the oldest letters: a broker's dead-letter queue is read, not indexed.
  for (const auto& letter : bus_of(context).dead_letters(group, max_letters_searched))
    if (letter.event.id == id) return json_reply(200, letter.to_json());
  return error_reply(404, "no dead letter with event id " + quote(id) + " in group " + quote(group));
}

AdminReply dead_letter_action(const AdminRequest& request, const AdminContext& context, const std::string& group,
                              std::string_view action, std::string_view query_text) {
  if (auto refused = refuse_unauthorised(request, context)) return *refused;
  Query query = parse_query(query_text);
  EventBus& bus = bus_of(context);
  if (action == "replay") {
    for (const auto& [key, _] : query)
      if (key != "id") throw ConfigError("unknown parameter " + quote(key) + " (known: id)");
    std::optional<std::string> id;
    if (query.count("id")) id = param(query, "id");
    std::size_t n = bus.replay_dead_letters(group, id);
    return json_reply(200, {{"group", group}, {"replayed", n}});
  }
  if (!query.empty()) throw ConfigError("purge takes no parameters");
  std::size_t n = bus.purge_dead_letters(group);
  return json_reply(200, {{"group", group}, {"purged", n}});
}

// /v1/dead-letters/{group}[/{id}] (GET) and /v1/dead-letters/{group}/replay|purge (POST).
AdminReply dead_letters(const AdminRequest& request, const AdminContext& context, std::string_view rest,
                        std::string_view query) {
  auto slash = rest.find('/');
  std::string group = decode(rest.substr(0, slash), false, "path");
  if (group.empty()) throw ConfigError("the path names no group");
  std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  bool post = request.method == "POST";
  if (tail == "replay" || tail == "purge") {
    if (!post) {
      AdminReply r = error_reply(405, "replay and purge take POST");
      r.allow = "POST";
      return r;
    }
    return dead_letter_action(request, context, group, tail, query);
  }
  if (post) return error_reply(405, "only replay and purge take POST");
  if (tail.empty()) return dead_letter_list(context, group, query);
  if (tail.find('/') != std::string_view::npos) return error_reply(404, "no such resource: " + quote(request.target));
  return dead_letter_show(context, group, decode(tail, false, "path"));
}

AdminReply route(const AdminRequest& request, const AdminContext& context) {
  std::string_view method = request.method;
  auto question = request.target.find('?');
  std::string_view path = request.target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : request.target.substr(question + 1);
  constexpr std::string_view letters_prefix = "/v1/dead-letters/";
  if (path.substr(0, letters_prefix.size()) == letters_prefix &&
      (method == "GET" || method == "HEAD" || method == "POST"))
    return dead_letters(request, context, path.substr(letters_prefix.size()), query);
  if (path == "/v1/events" && method == "POST") {
    if (context.ingress) return context.ingress(request);
    AdminReply r = error_reply(405, "the ingress is off: POST /v1/events needs admin::Options::ingress");
    r.allow = "GET, HEAD";
    return r;
  }
  if (method != "GET" && method != "HEAD") return error_reply(405, "only GET is served here");
  if (path == "/healthz") return health(context);
  if (path == "/readyz") return readiness(context);
  if (path == "/metrics") return metrics(context);
  if (path == "/") return dashboard();
  if (path == "/v1/summary") return summary(context);
  if (path == "/v1/events" || path.substr(0, 11) == "/v1/events/") {
    if (!context.store) return error_reply(404, "events: this admin endpoint has no event store");
    if (path == "/v1/events") return events(*context.store, query);
    if (path.size() > 11) return event(*context.store, path.substr(11));
  }
  return error_reply(404, "no such resource: " + quote(path));
}

}  // namespace

AdminReply route_admin_request(const AdminRequest& request, const AdminContext& context) noexcept {
  try {
    try {
      return route(request, context);
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

AdminReply route_admin_request(std::string_view method, std::string_view target, EventStore& store,
                               const Metrics* metrics) noexcept {
  try {
    AdminContext context;
    context.store = &store;
    context.metrics = metrics;
    return route_admin_request({method, target, {}}, context);
  } catch (...) {
    return {500, "application/json", R"({"error":"internal error"})"};
  }
}

}  // namespace herald::admin
