#include "order_service.hpp"

#include <stdexcept>

#include "herald/typed.hpp"

namespace orders {

OrderService::OrderService(herald::EventBus& bus, std::function<void(herald::Envelope)> publish,
                           std::string correlation_prefix)
    : lifecycle_(bus, {.source = "orders-service"}),
      publish_(std::move(publish)),
      correlation_prefix_(std::move(correlation_prefix)) {}

OrderCreated OrderService::create(const std::string& customer, std::vector<std::string> items, double total,
                                  const std::string& actor) {
  std::string id = std::to_string(++next_id_);
  std::string correlation = correlation_prefix_ + "order-" + id;
  nlohmann::json request = {{"customer", customer}, {"items", items}, {"total", total}};
  return lifecycle_.run(
      "order", "create", request,
      [&] {
        if (items.empty()) throw std::invalid_argument("an order needs at least one item");
        OrderCreated created{id, customer, total, "EUR", items};
        herald::Envelope e = herald::to_envelope(
            created, {.aggregatetype = "order", .aggregateid = id, .actor = actor, .source = "orders-service"});
        e.correlationid = correlation;
        publish_(std::move(e));
        return created;
      },
      {.actor = actor, .correlationid = correlation, .partitionkey = id});
}

}  // namespace orders
