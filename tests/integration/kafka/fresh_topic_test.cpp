// Events published the moment their topic is made: a partition whose log
// the broker has not created yet must not lose what is produced to it.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <thread>

#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("events published from several threads the moment their topic is made all reach it",
          "[kafka][producer][fresh-topic]") {
  constexpr int rounds = 8, keys = 10, per_key = 20, threads = 4;
  for (int round = 0; round < rounds; ++round) {
    const std::string ns = unique_name("fresh");
    auto bus = make_bus(kafka_config(ns));
    Recorder<Envelope> got;
    // The subscription makes the topic; the publishers start as it returns.
    auto reader = bus->subscribe({.pattern = "order.#", .group = ns + "-reader", .start = StartFrom::earliest},
                                 [&](const Envelope& e) { got.add(e); });
    std::vector<Envelope> events;
    for (int n = 0; n < per_key; ++n)
      for (int k = 0; k < keys; ++k) {
        Envelope e = Envelope::make(n == 0 ? "order.created" : "order.updated", {{"n", n}});
        e.partitionkey = "order-" + std::to_string(k);
        events.push_back(e);
      }
    std::vector<std::thread> publishers;
    for (int t = 0; t < threads; ++t)
      publishers.emplace_back([&, t] {
        for (std::size_t i = static_cast<std::size_t>(t); i < events.size(); i += threads) bus->publish(events[i]);
      });
    for (auto& p : publishers) p.join();
    if (!got.wait_for(events.size(), std::chrono::seconds(30))) {
      std::set<std::string> seen;
      for (const auto& e : got.items()) seen.insert(e.id);
      std::string missing;
      for (const auto& e : events)
        if (!seen.count(e.id)) missing += " " + e.partitionkey + "#" + std::to_string(e.payload().at("n").get<int>());
      FAIL("round " << round << ": the reader saw " << got.size() << " of " << events.size() << "; never seen:" << missing);
    }
  }
}
