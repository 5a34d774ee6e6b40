#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a RabbitMQ group's backlog is what waits in its queues", "[rabbitmq][backlog]") {
  const std::string ns = unique_name("backlog");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-stock";
  CHECK_FALSE(bus->backlog(group).exists);

  // The first subscription creates the group's queue; then the consumer is gone.
  bus->subscribe({.pattern = "stock.*", .group = group}, [](const Envelope&) {}).cancel();
  constexpr std::uint64_t n = 7;
  for (std::uint64_t i = 0; i < n; ++i) bus->publish(Envelope::make("stock.moved", {{"n", i}}));
  GroupBacklog b = bus->backlog(group, "stock.*");
  CHECK(b.known);
  CHECK(b.exists);
  CHECK(b.pending == n);
  CHECK(b.retrying == 0);
  CHECK(b.dead == 0);
  CHECK_FALSE(b.drained());

  // Consumed: drained. One event fails for good: dead.
  auto sub = bus->subscribe({.pattern = "stock.*", .group = group, .retry = RetryPolicy::none()}, [](const Envelope& e) {
    if (e.payload().value("fail", false)) throw std::runtime_error("shelf missing");
  });
  bus->publish(Envelope::make("stock.moved", {{"fail", true}}));
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  REQUIRE(wait_until([&] { return bus->backlog(group).dead == 1; }, std::chrono::seconds(20)));
  b = bus->backlog(group);
  CHECK(b.pending == 0);
  CHECK(b.retrying == 0);
  CHECK(b.drained());
  sub.cancel();
  RawBroker raw;
  raw.delete_queue("herald.it." + group + ".dlq");
}

TEST_CASE("an event waiting in a RabbitMQ delay queue counts as retrying", "[rabbitmq][backlog]") {
  const std::string ns = unique_name("backlog");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-slow";
  RetryPolicy policy{.max_attempts = 3, .initial_delay = std::chrono::seconds(30), .jitter = 0.0};
  std::atomic<int> runs{0};
  auto sub = bus->subscribe({.pattern = "stock.*", .group = group, .retry = policy}, [&](const Envelope&) {
    ++runs;
    throw std::runtime_error("later");
  });
  bus->publish(Envelope::make("stock.moved"));
  REQUIRE(wait_until([&] { return bus->backlog(group).retrying == 1; }, std::chrono::seconds(20)));
  CHECK(bus->backlog(group).pending == 0);
  CHECK_FALSE(bus->backlog(group).drained());
  sub.cancel();
}

TEST_CASE("dead letters move from one RabbitMQ setup to another, to their group alone", "[rabbitmq][backlog][dlq]") {
  const std::string ns = unique_name("move");
  const std::string group = ns + "-mailer";
  auto old_bus = make_bus(isolated_config(ns));
  auto new_bus = make_bus(isolated_config(ns + "n", {{"queue_prefix", "herald.it.new."}}));
  auto failing = old_bus->subscribe({.pattern = "order.*", .group = group, .retry = RetryPolicy::none()},
                                    [](const Envelope&) { throw std::runtime_error("smtp down"); });
  Envelope event = Envelope::make("order.created", {{"order", 7}});
  old_bus->publish(event);
  REQUIRE(wait_until([&] { return old_bus->backlog(group).dead == 1; }, std::chrono::seconds(20)));
  failing.cancel();
  const std::string id = old_bus->dead_letters(group).at(0).event.id;

  Recorder<Envelope> mailer, billing;
  auto m = new_bus->subscribe({.pattern = "order.*", .group = group}, [&](const Envelope& e) { mailer.add(e); });
  auto b = new_bus->subscribe({.pattern = "order.*", .group = ns + "-billing"}, [&](const Envelope& e) { billing.add(e); });

  CHECK(move_dead_letters(*old_bus, *new_bus, group) == 1);
  REQUIRE(mailer.wait_for(1));
  CHECK(mailer.items().front().id == id);
  REQUIRE(new_bus->flush(std::chrono::seconds(30)));
  CHECK(billing.size() == 0);
  CHECK(old_bus->backlog(group).dead == 0);
  CHECK(new_bus->backlog(ns + "-billing").dead == 0);  // skipped, not failed
}
