// The orders example's own test, written with herald::testing: one body that
// runs on memory (simulated time) and, with HERALD_TEST_URL set, on RabbitMQ
// and Kafka (real time, names of its own on the broker). Plain C++: it shows
// the kit needs no test framework; under Catch2 or GoogleTest each check
// below is a CHECK/EXPECT_TRUE.

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "herald/config.hpp"
#include "herald/idempotency.hpp"
#include "herald/testing/harness.hpp"
#include "herald/testing/isolation.hpp"
#include "../order_service.hpp"
#include "../subscribers.hpp"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

int run() {
  using namespace std::chrono_literals;
  using herald::testing::Harness;
  std::string url = herald::testing::transport_from_env();
  Harness h(herald::testing::namespaced(herald::BusConfig::from_url(url), "orders-test"));
  std::printf("transport %s (%s)\n", h.bus().features().name.c_str(), herald::redact_url(url).c_str());

  herald::Upcasters upcasters;
  auto idempotency = std::make_shared<herald::MemoryIdempotencyStore>();
  const std::string correlation = herald::testing::unique_name("orders-test") + "-";
  auto services = orders::subscribe_all(h.bus(), upcasters, idempotency, correlation);
  // An audit trail of payments, wrapped by the harness to tell double applications.
  auto audit = h.bus().subscribe({.pattern = "order.paid", .group = "audit"}, h.handler("audit", [](const herald::Envelope&) {}));
  orders::OrderService service(h.bus(), [&](herald::Envelope e) { h.bus().publish(std::move(e)); }, correlation);

  service.create("alice", {"book", "lamp"}, 120.0, "user:alice");  // order 42: the mail server fails twice
  service.create("mallory", {"refund-hack"}, -5.0, "user:mallory");  // order 43: poison for payments
  const auto deadline = h.bus().features().broker ? 60s : 10s;

  check(h.published("order.created").count() == 2, "two orders published");
  check(h.settle(h.consumed("order.paid", "loyalty"), 1, deadline), "order 42 paid, loyalty granted points");
  check(h.settle(h.consumed("order.created", "notifications"), 2, deadline), "both customers mailed");
  check(h.failed("order.created", "notifications").count() == 2, "the mailer failed twice before it got through");
  check(h.settle(h.dead_letters("payments"), 1, deadline), "the poison order dead-lettered by payments");
  check(h.failed("order.created", "payments").count() == 3, "payments tried the poison order 3 times");
  check(h.dead_letters("notifications").count() == 0 && h.dead_letters("loyalty").count() == 0,
        "nothing else dead-lettered");
  check(h.settle(h.consumed("order.paid", "audit"), 1, deadline) && h.each_event_applied_once("audit"),
        "each payment audited once");
  check(services->loyalty_points == 12, "120.00 EUR gave 12 points");
  if (failures) std::printf("%s", h.summary().c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::printf("FAIL %s\n", e.what());
    return 1;
  }
}
