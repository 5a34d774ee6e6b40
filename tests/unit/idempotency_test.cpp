#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "herald/config.hpp"
#include "herald/idempotency.hpp"

using namespace herald;
using std::chrono::milliseconds;

TEST_CASE("a claim is taken once, completed marks are remembered, failures release", "[idempotency]") {
  MemoryIdempotencyStore store;
  CHECK(store.claim("g", "e1") == IdempotencyClaim::acquired);
  CHECK(store.claim("g", "e1") == IdempotencyClaim::busy);
  CHECK(store.claim("other", "e1") == IdempotencyClaim::acquired);  // groups are separate
  store.complete("g", "e1");
  CHECK(store.claim("g", "e1") == IdempotencyClaim::done);
  CHECK(store.claim("g", "e2") == IdempotencyClaim::acquired);
  store.release("g", "e2");
  CHECK(store.claim("g", "e2") == IdempotencyClaim::acquired);
}

TEST_CASE("marks expire after the TTL and the store stays bounded", "[idempotency]") {
  auto clock = std::make_shared<ManualScheduler>();
  MemoryIdempotencyStore store(3, milliseconds(1000), clock);
  for (const char* id : {"a", "b", "c"}) {
    REQUIRE(store.claim("g", id) == IdempotencyClaim::acquired);
    store.complete("g", id);
  }
  CHECK(store.claim("g", "a") == IdempotencyClaim::done);
  REQUIRE(store.claim("g", "d") == IdempotencyClaim::acquired);
  store.complete("g", "d");
  CHECK(store.size() <= 3);  // the oldest went
  CHECK(store.claim("g", "a") == IdempotencyClaim::acquired);
  clock->advance(milliseconds(1001));
  CHECK(store.claim("g", "d") == IdempotencyClaim::acquired);  // expired
}

TEST_CASE("the idempotent wrapper runs the handler once per event id", "[idempotency]") {
  auto store = std::make_shared<MemoryIdempotencyStore>();
  int effects = 0, duplicates = 0, failures_left = 1;
  Handler h = idempotent(store, "g", [&](const Envelope&) {
    if (failures_left-- > 0) throw std::runtime_error("transient");
    ++effects;
  }, {.on_duplicate = [&](const Envelope&) { ++duplicates; }});
  Envelope e = Envelope::make("a.b");
  CHECK_THROWS(h(e));  // failure releases the claim...
  h(e);                // ...so the retry runs
  h(e);                // and the redelivery is suppressed
  CHECK(effects == 1);
  CHECK(duplicates == 1);
}

TEST_CASE("the idempotent wrapper takes its group from the subscription, named once", "[idempotency]") {
  auto bus = make_bus("memory://?dispatch=inline");
  auto store = std::make_shared<MemoryIdempotencyStore>();
  int loyalty = 0, audit = 0;
  auto a = bus->subscribe({.pattern = "order.paid", .group = "loyalty"}, idempotent(store, [&](const Envelope&) { ++loyalty; }));
  auto b = bus->subscribe({.pattern = "order.paid", .group = "audit"}, idempotent(store, [&](const Envelope&) { ++audit; }));
  Envelope e = Envelope::make("order.paid", {{"order_id", "7"}});
  bus->publish(e);
  bus->publish(e);  // the same id again: a duplicate for each group
  REQUIRE(bus->flush(std::chrono::seconds(5)));
  CHECK(loyalty == 1);
  CHECK(audit == 1);
  CHECK(store->claim("loyalty", e.id) == IdempotencyClaim::done);
  CHECK(store->claim("audit", e.id) == IdempotencyClaim::done);

  // Outside a subscription there is no group to take: the error says so.
  auto bare = idempotent(store, [](const Envelope&) {});
  CHECK_THROWS_WITH(bare(e), Catch::Contains("no group"));
}
