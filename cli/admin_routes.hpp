#pragma once
// What `herald serve` answers, apart from the sockets: query parsing and
// routing as one function, so it can be tested and fuzzed without a server.

#include <string>
#include <string_view>

#include "herald/event_store.hpp"
#include "herald/metrics.hpp"

namespace herald::cli {

/// An HTTP reply before it meets the wire. `body` is valid UTF-8 (and, for
/// "application/json", valid JSON) whatever the request held.
struct AdminReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// Answers one request (`method` as on the request line, `target` as sent:
/// path and raw query). Routes and their replies are listed on AdminServer.
/// Never throws: bad input gets 400/404/405 with {"error": "..."}, a store
/// that cannot answer 503, anything else 500; text quoted from the request
/// has its invalid bytes replaced by U+FFFD. Blocks on the store; safe to
/// call from several threads when `store` is (every EventStore is).
/// `metrics` may be null.
AdminReply route_admin_request(std::string_view method, std::string_view target, EventStore& store,
                               const Metrics* metrics) noexcept;

}  // namespace herald::cli
