#pragma once
// Webhook subscriptions defined in configuration, and the set of them
// running on a bus, changed while it runs.
//
// A config file's "webhooks" array (docs/webhooks.md) lists them:
//
//   "webhooks": [{"name": "slack-orders", "pattern": "order.after.create",
//                 "url": "${SLACK_WEBHOOK_URL}", "secret": "${SLACK_WEBHOOK_SECRET}",
//                 "mode": "structured", "max_in_flight": 8,
//                 "retry": {"max_attempts": 8, "initial_delay": "1s", "max_delay": "5m"}}]
//
// WebhookSet::apply makes the running set match a new list: an added or
// re-enabled webhook starts, a removed or disabled one stops after its
// in-flight deliveries finish, a changed one restarts. The whole list is
// checked before anything changes, so a bad list is refused with the reason
// and the running webhooks go on as they were. `herald run` calls it on
// SIGHUP and when the file changes.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/bus.hpp"
#include "herald/retry.hpp"
#include "herald/webhook.hpp"

namespace herald {

struct WebhookSubscription {
  /// Names the webhook and, by default, its group (`webhook-<name>`).
  std::string name;
  std::string pattern;
  std::string group;
  bool enabled = true;
  /// Events of different partition keys POSTed at once (one per key at a time).
  int max_in_flight = 1;
  RetryPolicy retry;
  /// url, secret, mode, timeout, verify_tls, ca_file (`name` is copied from above).
  WebhookOptions options;

  /// Whether running `other` instead would change anything (a changed
  /// subscription restarts).
  bool same_as(const WebhookSubscription& other) const;
};

/// Reads a config file's "webhooks" array (null: none). Throws ConfigError
/// naming the webhook and the key, never the URL or secret; everything
/// webhook_handler would refuse is refused here, before anything starts.
std::vector<WebhookSubscription> webhook_subscriptions(const nlohmann::json& section);

/// "https://hooks.example.com/…": the scheme and host of a webhook's URL,
/// what status pages show (a URL's path and query often hold its secret).
std::string webhook_endpoint_label(const std::string& url);

struct WebhookStatus {
  std::string name, pattern, group, mode;
  std::string endpoint;  // webhook_endpoint_label
  bool enabled = true;
  bool running = false;
  std::uint64_t delivered = 0;  // 2xx answers
  std::uint64_t failed = 0;     // attempts that did not end in a 2xx
  std::string last_error;       // names the webhook, never its URL
};

struct WebhookChanges {
  std::vector<std::string> started, stopped, restarted;
  bool empty() const noexcept { return started.empty() && stopped.empty() && restarted.empty(); }
};

class WebhookSet {
 public:
  /// `bus` outlives the set.
  explicit WebhookSet(EventBus& bus);
  /// Stops every webhook, each after its in-flight deliveries.
  ~WebhookSet();
  WebhookSet(const WebhookSet&) = delete;
  WebhookSet& operator=(const WebhookSet&) = delete;

  /// Makes the running set match `wanted` (names must be unique). Throws
  /// ConfigError, changing nothing, when any entry is refused.
  WebhookChanges apply(const std::vector<WebhookSubscription>& wanted);
  /// Every configured webhook, running or disabled, in configuration order.
  std::vector<WebhookStatus> status() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace herald
