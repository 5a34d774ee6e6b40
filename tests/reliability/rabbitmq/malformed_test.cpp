#include <catch2/catch.hpp>

#include <set>

#include "herald/codec.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("malformed bodies in a stream are dead-lettered with their reason and the events after them are handled",
          "[rabbitmq][reliability][decode]") {
  const std::string ns = unique_name("malformed");
  const std::string group = ns + "-billing";
  auto bus = make_bus(isolated_config(ns));
  Recorder<std::string> handled;
  auto sub = bus->subscribe({.pattern = "invoice.#", .group = group, .concurrency = 2},
                            [&](const Envelope& e) { handled.add(e.id); });

  // One publisher channel, so the broker keeps this order.
  RawBroker raw;
  const std::string exchange = "herald.it." + ns;
  const std::vector<std::string> bad{"{", "not json", R"({"specversion":"1.0"})", R"({"id":"x","type":"invoice.sent"})",
                                     std::string("\xff\xfe", 2)};
  std::set<std::string> good;
  for (int i = 0; i < 1'000; ++i) {
    if (i % 200 == 100) raw.publish(exchange, "invoice.sent", bad[static_cast<std::size_t>(i / 200)]);
    Envelope e = Envelope::make("invoice.sent", {{"i", i}}, "/invoices");
    good.insert(e.id);
    raw.publish(exchange, "invoice.sent", encode(e), {}, e.id);
  }

  REQUIRE(handled.wait_for(good.size(), std::chrono::seconds(60)));
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  auto items = handled.items();
  CHECK(std::set<std::string>(items.begin(), items.end()) == good);
  auto letters = bus->dead_letters(group);
  REQUIRE(letters.size() == bad.size());
  std::set<std::string> bodies;
  for (const auto& d : letters) {
    CHECK(d.reason == dead_letter_reason_decode);
    CHECK_FALSE(d.last_error.empty());
    bodies.insert(d.raw_body);
  }
  CHECK(bodies == std::set<std::string>(bad.begin(), bad.end()));
}
