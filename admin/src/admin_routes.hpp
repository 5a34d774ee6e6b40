#pragma once
// What the admin endpoint answers, apart from the sockets: query parsing and
// routing as one function, so it can be tested and fuzzed without a server.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/bus.hpp"
#include "herald/event_store.hpp"
#include "herald/metrics.hpp"
#include "ingress_parse.hpp"

namespace herald::admin {

/// An HTTP reply before it meets the wire. `body` is valid UTF-8 (and, for
/// "application/json", valid JSON) whatever the request held.
struct AdminReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// The methods the resource takes, for a 405's Allow header.
  std::string allow = "GET, HEAD";
  /// Further header fields (the dashboard's Content-Security-Policy, a 429's Retry-After).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// One request as the routes see it.
struct AdminRequest {
  std::string_view method;         // as on the request line
  std::string_view target;         // path and raw query, as sent
  std::string_view authorization;  // the Authorization header ("" when absent)
  HeaderFields headers;            // every header field (read by the ingress only)
  std::string_view body;
};

/// What the routes answer from. Every pointer may be null (that part of the
/// endpoint then answers 404, or is left out of /metrics and /readyz); the
/// pointees outlive the calls.
struct AdminContext {
  EventBus* bus = nullptr;
  EventStore* store = nullptr;
  /// The bus's metrics (or a relay's), rendered first on /metrics.
  const Metrics* metrics = nullptr;
  /// Where the bus's retries and dead letters are counted when not in
  /// `metrics` (an OutboxBus: its transport's metrics).
  const Metrics* verdicts = nullptr;
  /// The `transport` label of the bus's series (its features().name).
  std::string transport;
  /// Bearer token of the mutating routes (POST replay, purge); empty: they
  /// answer 403 (off).
  std::string token;
  /// Groups whose backlog /metrics and /readyz report, each with the
  /// pattern it subscribes to (Kafka reads the topics the pattern maps to);
  /// empty: the groups the metrics have seen run a handler (the relay's
  /// "outbox" aside), each with the family of the types it handled.
  std::vector<std::pair<std::string, std::string>> groups;
  /// /readyz fails while the oldest pending outbox event is older.
  std::chrono::seconds max_relay_lag{60};
  /// POST /v1/events (the CloudEvents ingress, ingress.hpp); null: off (405).
  std::function<AdminReply(const AdminRequest&)> ingress;
};

/// A JSON reply that cannot throw for any string in `body` (invalid UTF-8
/// becomes U+FFFD).
AdminReply json_reply(int status, const nlohmann::json& body);

/// Bearer tokens compared in time independent of where they differ; an
/// empty `expected` matches nothing.
bool same_token(std::string_view given, std::string_view expected) noexcept;

/// Answers one request. Routes and their replies are listed in
/// herald/admin.hpp. Never throws: bad input gets 400/404/405 with
/// {"error": "..."}, a missing or wrong token 401, mutating routes without a
/// configured token 403, a store or transport that cannot answer 503,
/// anything else 500; text quoted from the request is cut short and has its
/// invalid bytes replaced by U+FFFD. Blocks on the store and the transport;
/// safe to call from several threads when they are.
AdminReply route_admin_request(const AdminRequest& request, const AdminContext& context) noexcept;

/// The store-only endpoint (no bus, no token): what `herald serve` without
/// a relay answers. `metrics` may be null.
AdminReply route_admin_request(std::string_view method, std::string_view target, EventStore& store,
                               const Metrics* metrics) noexcept;

}  // namespace herald::admin
