#pragma once
// The orders service's typed events.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace orders {

/// Version 2 added `currency`; version 1 events are lifted by an upcaster.
struct OrderCreated {
  static constexpr std::string_view event_type = "order.created";
  static constexpr int event_version = 2;
  std::string order_id;
  std::string customer;
  double total = 0;
  std::string currency;
  std::vector<std::string> items;
  std::string partition_key() const { return order_id; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OrderCreated, order_id, customer, total, currency, items)

}  // namespace orders
