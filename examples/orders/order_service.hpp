#pragma once
// The write side: creating an order emits lifecycle events and a typed event.

#include <functional>
#include <string>
#include <vector>

#include "events.hpp"
#include "herald/bus.hpp"
#include "herald/lifecycle.hpp"

namespace orders {

class OrderService {
 public:
  /// `publish` is how events leave: straight to the bus, or into the outbox.
  /// Each order's events carry the correlation id `<correlation_prefix>order-<id>`.
  OrderService(herald::EventBus& bus, std::function<void(herald::Envelope)> publish, std::string correlation_prefix);
  /// Creates an order; throws when it is invalid (and emits order.failed.create).
  OrderCreated create(const std::string& customer, std::vector<std::string> items, double total,
                      const std::string& actor);

 private:
  herald::Lifecycle lifecycle_;
  std::function<void(herald::Envelope)> publish_;
  std::string correlation_prefix_;
  int next_id_ = 41;
};

}  // namespace orders
