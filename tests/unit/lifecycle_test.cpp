#include <catch2/catch.hpp>

#include "herald/config.hpp"
#include "herald/lifecycle.hpp"
#include "wait.hpp"

using namespace herald;

TEST_CASE("lifecycle events wrap an operation: before, after with the result, failed with the error", "[lifecycle]") {
  auto bus = make_bus("memory://?dispatch=inline");
  std::vector<Envelope> seen;
  auto sub = bus->subscribe({.pattern = "order.#", .group = "audit"}, [&](const Envelope& e) { seen.push_back(e); });
  Lifecycle lifecycle(*bus, {.source = "orders"});

  int id = lifecycle.run("order", "create", {{"sku", "A1"}}, [] { return 42; }, {.actor = "user:7", .partitionkey = "42"});
  CHECK(id == 42);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].type == "order.before.create");
  CHECK(seen[1].type == "order.after.create");
  auto after = seen[1].payload();
  CHECK(after["result"] == 42);
  CHECK(after["data"]["sku"] == "A1");
  CHECK(after["actor"] == "user:7");
  CHECK(after.contains("time"));
  CHECK(seen[1].partitionkey == "42");
  CHECK(seen[1].source == "orders");

  seen.clear();
  CHECK_THROWS_WITH(lifecycle.run("order", "cancel", {}, []() -> int { throw std::runtime_error("already shipped"); }),
                    "already shipped");
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].type == "order.failed.cancel");
  CHECK(seen[1].payload()["result"]["error"] == "already shipped");
}

TEST_CASE("lifecycle events can be switched off per service", "[lifecycle]") {
  auto bus = make_bus("memory://?dispatch=inline");
  int events = 0;
  auto sub = bus->subscribe({.pattern = "#", .group = "audit"}, [&](const Envelope&) { ++events; });
  Lifecycle lifecycle(*bus, {.enabled = false});
  bool ran = false;
  lifecycle.run("order", "create", {}, [&] { ran = true; });
  CHECK(ran);
  CHECK(events == 0);
}
