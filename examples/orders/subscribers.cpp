#include "subscribers.hpp"

#include <stdexcept>

#include "events.hpp"
#include "log.hpp"

namespace orders {

namespace {

herald::RetryPolicy demo_retry(int attempts) {
  // Short delays so the demo finishes quickly; production keeps the defaults.
  return {.max_attempts = attempts, .initial_delay = std::chrono::milliseconds(50), .multiplier = 2.0,
          .max_delay = std::chrono::milliseconds(400), .jitter = 0.2};
}

}  // namespace

std::unique_ptr<Subscribers> subscribe_all(herald::EventBus& bus, herald::Upcasters& upcasters,
                                           std::shared_ptr<herald::IdempotencyStore> idempotency,
                                           std::string correlation_prefix) {
  auto s = std::make_unique<Subscribers>();
  s->correlation_prefix = std::move(correlation_prefix);
  Subscribers* state = s.get();

  // Notifications: the mail server is flaky for the first order.
  s->subscriptions.push_back(herald::subscribe<OrderCreated>(
      bus, "notifications",
      [state](const OrderCreated& o, const herald::Envelope& e) {
        if (!state->ours(e)) return;
        if (o.order_id == "42" && state->smtp_failures < 2) {
          ++state->smtp_failures;
          say("notifications", "SMTP timeout for order " + o.order_id + " (attempt " +
                                   std::to_string(state->smtp_failures.load()) + "), will retry");
          throw std::runtime_error("smtp: connection timed out");
        }
        ++state->emails_sent;
        say("notifications", "mailed " + o.customer + ": order " + o.order_id + " confirmed, " + money(o.total) + " " +
                                 o.currency + " (event " + short_id(e.id) + ")");
      },
      {.retry = demo_retry(5)}, upcasters));

  // Analytics counts every order event, lifecycle ones included.
  s->subscriptions.push_back(bus.subscribe({.pattern = "order.#", .group = "analytics"}, [state](const herald::Envelope& e) {
    if (!state->ours(e)) return;
    std::lock_guard lock(state->mutex);
    ++state->analytics[e.type];
  }));

  // Timeline: what happened to each order, in order (partition key = order id).
  s->subscriptions.push_back(bus.subscribe({.pattern = "order.#", .group = "timeline"}, [state](const herald::Envelope& e) {
    if (!state->ours(e)) return;
    std::lock_guard lock(state->mutex);
    state->timeline[e.partitionkey.empty() ? "?" : e.partitionkey].push_back(e.type);
  }));

  // Payments charges the order and announces it; it cannot charge a negative
  // total: that poison event is dead-lettered after 3 attempts.
  s->subscriptions.push_back(herald::subscribe<OrderCreated>(
      bus, "payments",
      [&bus, state](const OrderCreated& o, const herald::Envelope& e) {
        if (!state->ours(e)) return;
        if (o.total < 0) throw std::domain_error("cannot charge a negative total (" + money(o.total) + ")");
        herald::Envelope paid = herald::Envelope::make("order.paid", {{"order_id", o.order_id}, {"amount", o.total}},
                                                       "payments-service");
        paid.partitionkey = o.order_id;
        paid.aggregatetype = "order";
        paid.aggregateid = o.order_id;
        bus.publish(paid);  // carries the order.created's correlation and causation ids
        say("payments", "charged order " + o.order_id + ", published order.paid");
      },
      {.retry = demo_retry(3)}, upcasters));

  // Loyalty points must not be granted twice when an event is redelivered.
  s->subscriptions.push_back(bus.subscribe(
      {.pattern = "order.paid", .group = "loyalty"},
      herald::idempotent(
          idempotency,
          [state](const herald::Envelope& e) {
            if (!state->ours(e)) return;
            auto p = e.payload();
            int points = static_cast<int>(p["amount"].get<double>() / 10);
            state->loyalty_points += points;
            {
              std::lock_guard lock(state->mutex);
              state->paid.push_back(e);
            }
            say("loyalty", "+" + std::to_string(points) + " points for order " + p["order_id"].get<std::string>() +
                               " (caused by " + short_id(e.causationid) + ", correlation " + e.correlationid + ")");
          },
          {.on_duplicate = [state](const herald::Envelope& e) {
            if (!state->ours(e)) return;
            ++state->duplicates_suppressed;
            say("loyalty", "duplicate of " + short_id(e.id) + " suppressed: no second effect");
          }})));
  return s;
}

}  // namespace orders
