// Where a subscription starts, and subscriptions that belong to one process:
// the same on every transport, so swapping the transport by configuration
// never changes what a new service handles.

#include <catch2/catch.hpp>

#include "fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("an ephemeral subscription gets every event in every instance and nothing after it ends",
          "[conformance][ephemeral]") {
  BusFixture f;
  // Two instances: two processes' buses on a broker, two subscriptions in one process in memory.
  auto other = f.features.broker ? f.another_bus() : nullptr;
  EventBus& second = other ? *other : *f.bus;
  Recorder<std::string> a, b;
  auto s1 = f.bus->subscribe({.pattern = "cache.#", .ephemeral = true}, [&](const Envelope& e) { a.add(e.id); });
  auto s2 = second.subscribe({.pattern = "cache.#", .ephemeral = true}, [&](const Envelope& e) { b.add(e.id); });
  for (int i = 0; i < 10; ++i) f.bus->publish(Envelope::make("cache.invalidated", {{"key", i}}));
  REQUIRE(a.wait_for(10, deadline));
  REQUIRE(b.wait_for(10, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(a.size() == 10);
  CHECK(b.size() == 10);

  // Nothing is kept for a subscription that ended: a new one sees only what follows.
  s1.cancel();
  s2.cancel();
  for (int i = 0; i < 5; ++i) f.bus->publish(Envelope::make("cache.invalidated", {{"stale", i}}));
  // An outbox hands events to its transport after publish returns: once
  // flushed they were published before the next subscription on every bus.
  REQUIRE(f.bus->flush(deadline));
  Recorder<std::string> c;
  auto s3 = f.bus->subscribe({.pattern = "cache.#", .ephemeral = true}, [&](const Envelope& e) { c.add(e.id); });
  Envelope marker = Envelope::make("cache.invalidated", {{"key", "after"}});
  f.bus->publish(marker);
  REQUIRE(c.wait_for(1, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(c.items() == std::vector<std::string>{marker.id});
}

TEST_CASE("a new group receives what is published after it first subscribed, not before", "[conformance][start]") {
  BusFixture f;
  Recorder<std::string> orders, billing;
  auto s1 = f.bus->subscribe({.pattern = "invoice.#", .group = f.group("orders")},
                             [&](const Envelope& e) { orders.add(e.id); });
  Envelope before = Envelope::make("invoice.issued", {{"n", 1}});
  f.bus->publish(before);
  REQUIRE(orders.wait_for(1, deadline));

  auto s2 = f.bus->subscribe({.pattern = "invoice.#", .group = f.group("billing")},
                             [&](const Envelope& e) { billing.add(e.id); });
  Envelope after = Envelope::make("invoice.issued", {{"n", 2}});
  f.bus->publish(after);
  REQUIRE(billing.wait_for(1, deadline));
  REQUIRE(orders.wait_for(2, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(billing.items() == std::vector<std::string>{after.id});
}

TEST_CASE("a new group asked to start at the earliest also reads what the transport still holds",
          "[conformance][start][history]") {
  BusFixture f;
  if (!f.features.history) {
    SUCCEED("transport " << f.features.name << " keeps nothing for a group that does not exist yet");
    return;
  }
  Recorder<std::string> orders, audit;
  auto s1 = f.bus->subscribe({.pattern = "invoice.#", .group = f.group("orders")},
                             [&](const Envelope& e) { orders.add(e.id); });
  Envelope before = Envelope::make("invoice.issued", {{"n", 1}});
  f.bus->publish(before);
  REQUIRE(orders.wait_for(1, deadline));

  auto s2 = f.bus->subscribe({.pattern = "invoice.#", .group = f.group("audit"), .start = StartFrom::earliest},
                             [&](const Envelope& e) { audit.add(e.id); });
  Envelope after = Envelope::make("invoice.issued", {{"n", 2}});
  f.bus->publish(after);
  REQUIRE(audit.wait_for(2, deadline));
  REQUIRE(f.bus->flush(deadline));
  // In any order: the two events have no common key (Kafka may put them in different partitions).
  CHECK_THAT(audit.items(), Catch::Matchers::UnorderedEquals(std::vector<std::string>{before.id, after.id}));
}
