#pragma once
// The read side: services that react to order events.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "herald/bus.hpp"
#include "herald/idempotency.hpp"
#include "herald/typed.hpp"

namespace orders {

struct Subscribers {
  /// Correlation ids of this run's events start with it. A broker may also
  /// hold earlier runs' events and other producers' `order.*` events: the
  /// services leave those alone and the demo counts only its own.
  std::string correlation_prefix;
  bool ours(const herald::Envelope& e) const { return e.correlationid.starts_with(correlation_prefix); }

  std::vector<herald::Subscription> subscriptions;
  std::atomic<int> emails_sent{0};
  std::atomic<int> smtp_failures{0};
  std::atomic<int> loyalty_points{0};
  std::atomic<int> duplicates_suppressed{0};
  std::mutex mutex;
  std::map<std::string, int> analytics;                       // events per type
  std::map<std::string, std::vector<std::string>> timeline;   // order id -> what happened
  std::vector<herald::Envelope> paid;                         // order.paid events as loyalty saw them
};

/// Subscribes the notification, analytics, timeline, payments and loyalty
/// services to `bus`. Group names are the services' names (the transport's
/// group or queue prefix keeps runs apart).
std::unique_ptr<Subscribers> subscribe_all(herald::EventBus& bus, herald::Upcasters& upcasters,
                                           std::shared_ptr<herald::IdempotencyStore> idempotency,
                                           std::string correlation_prefix);

}  // namespace orders
