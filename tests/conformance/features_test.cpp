#include <catch2/catch.hpp>

#include <atomic>

#include "fixture.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("an unknown option is refused with its name", "[conformance][config]") {
  auto t = transport_under_test();
  const std::string ns = unique_name("cfg");
  BusConfig c = t.config(ns);
  c.options["definitely_not_an_option"] = "1";
  CHECK_THROWS_WITH(t.open(ns, c), Catch::Contains("definitely_not_an_option"));
}

TEST_CASE("events published while no consumer runs reach the group once it subscribes", "[conformance][persistent]") {
  BusFixture f;
  // Kept where no consumer runs: on a broker. An outbox over memory is
  // persistent up to its relay, then hands events to groups in its process.
  if (!f.features.persistent || !f.features.broker) {
    SUCCEED("transport " << f.features.name << " keeps no events for a group without a running consumer");
    return;
  }
  const std::string group = f.group("late");
  {
    // Declare the group (queue / consumer group) once, then leave.
    auto sub = f.bus->subscribe({.pattern = "audit.#", .group = group}, [](const Envelope&) {});
  }
  f.bus->publish(Envelope::make("audit.logged", {{"n", 1}}));
  auto later = f.another_bus();
  Recorder<std::string> got;
  auto sub = later->subscribe({.pattern = "audit.#", .group = group}, [&](const Envelope& e) { got.add(e.type); });
  REQUIRE(got.wait_for(1, deadline));
}

TEST_CASE("buses in different processes share groups through the broker", "[conformance][broker]") {
  BusFixture f;
  if (!f.features.broker) {
    SUCCEED("transport " << f.features.name << " is in-process only");
    return;
  }
  auto other = f.another_bus();
  const std::string group = f.group("workers");
  std::atomic<int> here{0}, there{0};
  Recorder<std::string> all;
  auto s1 = f.bus->subscribe({.pattern = "task.*", .group = group}, [&](const Envelope& e) { ++here; all.add(e.id); });
  auto s2 = other->subscribe({.pattern = "task.*", .group = group}, [&](const Envelope& e) { ++there; all.add(e.id); });
  for (int i = 0; i < 30; ++i) {
    auto e = Envelope::make("task.created", {{"i", i}});
    e.partitionkey = "t" + std::to_string(i);
    other->publish(e);
  }
  REQUIRE(all.wait_for(30, deadline));
  REQUIRE(f.bus->flush(deadline));
  REQUIRE(other->flush(deadline));
  CHECK(here + there == 30);
}
