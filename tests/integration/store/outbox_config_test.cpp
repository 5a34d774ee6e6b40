// The outbox by configuration: `"outbox": <store URL>` puts an OutboxBus in
// front of the configured transport(s), with or without its own relay.

#include <catch2/catch.hpp>

#include <algorithm>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "herald/routed_bus.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("an outbox in the configuration makes publish an append that its relay delivers", "[outbox][config]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto bus = make_bus(BusConfig::from_json({{"url", "memory://?workers=2"}, {"outbox", scratch.url()}}));
  auto* outbox = dynamic_cast<OutboxBus*>(bus.get());
  REQUIRE(outbox);
  CHECK(outbox->relay() != nullptr);
  CHECK(bus->features().name == "outbox+memory");

  Recorder<std::string> handled;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) { handled.add(e.id); });
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    Envelope e = Envelope::make("order.created", {{"n", i}});
    bus->publish(e);
    ids.push_back(e.id);
    CHECK(outbox->store().find(e.id));  // appended before publish returned
  }
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  REQUIRE(handled.wait_for(5, std::chrono::seconds(30)));
  auto got = handled.items();
  std::sort(got.begin(), got.end());
  std::sort(ids.begin(), ids.end());
  CHECK(got == ids);
  CHECK(outbox->store().status().delivered == 5);
  CHECK(outbox->store().status().pending == 0);
}

TEST_CASE("with the relay off, configured outbox events wait in the store until a relay runs", "[outbox][config]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  nlohmann::json config = {{"url", "memory://"}, {"outbox", {{"store", scratch.url()}, {"relay", false}}}};
  auto bus = make_bus(BusConfig::from_json(config));
  auto* outbox = dynamic_cast<OutboxBus*>(bus.get());
  REQUIRE(outbox);
  CHECK(outbox->relay() == nullptr);

  Recorder<std::string> handled;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) { handled.add(e.id); });
  for (int i = 0; i < 3; ++i) bus->publish(Envelope::make("order.created", {{"n", i}}));
  REQUIRE(bus->flush(std::chrono::seconds(10)));  // only the transport: nothing reached it
  CHECK(outbox->store().status().pending == 3);
  CHECK(handled.size() == 0);

  // What `herald outbox relay` does in its own process.
  RelayOptions options;
  RelayStats stats = relay_pass(outbox->store(), outbox->transport(), options);
  CHECK(stats.delivered == 3);
  REQUIRE(handled.wait_for(3, std::chrono::seconds(10)));
  CHECK(outbox->store().status().pending == 0);
}

TEST_CASE("an outbox in front of routes delivers each stored event to its route's target", "[outbox][config][routes]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto bus = make_bus(BusConfig::from_json(nlohmann::json::parse(R"({
      "routes": [{"match": "order.#", "publish": ["memory://old"]}, {"match": "#", "publish": ["memory://new"]}],
      "outbox": ")" + scratch.url() + R"("})")));
  auto* outbox = dynamic_cast<OutboxBus*>(bus.get());
  REQUIRE(outbox);
  auto& routed = dynamic_cast<RoutedBus&>(outbox->transport());
  CHECK(bus->features().name == "outbox+routed(memory+memory)");

  Recorder<std::string> handled;
  auto sub = bus->subscribe({.pattern = "#", .group = "audit"}, [&](const Envelope& e) { handled.add(e.type); });
  bus->publish(Envelope::make("order.created", {{"n", 1}}));
  bus->publish(Envelope::make("invoice.sent", {{"n", 2}}));
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  REQUIRE(handled.wait_for(2, std::chrono::seconds(30)));
  CHECK(routed.target("memory://old").metrics().snapshot().total_published() == 1);
  CHECK(routed.target("memory://new").metrics().snapshot().total_published() == 1);

  // Refused at publish: it would never leave the store.
  auto narrow = make_bus(BusConfig::from_json(nlohmann::json::parse(R"({
      "routes": [{"match": "order.#", "publish": ["memory://"]}], "outbox": ")" + scratch.url() + R"("})")));
  CHECK_THROWS_WITH(narrow->publish(Envelope::make("invoice.sent", {})), Catch::Contains("no route matches"));
  CHECK(outbox->store().status().pending == 0);
  CHECK(outbox->store().status().delivered == 2);
}
