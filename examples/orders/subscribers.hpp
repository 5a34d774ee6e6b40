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
/// services to `bus`. Group names are the services' names.
std::unique_ptr<Subscribers> subscribe_all(herald::EventBus& bus, herald::Upcasters& upcasters,
                                           std::shared_ptr<herald::IdempotencyStore> idempotency);

}  // namespace orders
