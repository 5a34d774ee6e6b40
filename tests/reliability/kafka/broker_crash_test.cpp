// kill -9 of the broker in the middle of a stream: nothing is lost, and with
// the idempotent consumer nothing takes effect twice.

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "herald/idempotency.hpp"
#include "kafka_broker.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("every event of a stream takes effect exactly once across a kill -9 of the broker", "[kafka][reliability]") {
  constexpr int total = 10'000, batch = 100;
  const std::string ns = unique_name("crash");
  // librdkafka notices a lost group coordinator only when a request to it
  // times out (socket.timeout.ms, 60 s by default): shorten that so the
  // test takes seconds, not minutes, after the broker is back.
  auto config = kafka_config(ns, {{"partitions", "3"},
                                  {"kafka.socket.timeout.ms", "10000"},
                                  {"kafka.reconnect.backoff.max.ms", "1000"}});
  auto publisher = make_bus(config);
  auto consumer = make_bus(config);
  const std::string group = ns + "-ledger";

  std::mutex mutex;
  std::map<std::string, int> effects;  // event id -> times it took effect
  std::atomic<int> duplicates{0};
  auto store = std::make_shared<MemoryIdempotencyStore>();
  auto sub = consumer->subscribe(
      {.pattern = "ledger.#", .group = group},
      idempotent(store, group,
                 [&](const Envelope& e) {
                   std::lock_guard lock(mutex);
                   ++effects[e.id];
                 },
                 {.on_duplicate = [&](const Envelope&) { ++duplicates; }}));
  auto handled = [&] {
    std::lock_guard lock(mutex);
    return effects.size();
  };

  std::atomic<int> published{0};
  std::string publish_error;
  std::thread producer([&] {
    try {
      for (int i = 0; i < total; i += batch) {
        std::vector<Envelope> events;
        for (int j = i; j < i + batch; ++j) {
          Envelope e = Envelope::make("ledger.posted", {{"seq", j}});
          e.partitionkey = "acct-" + std::to_string(j % 50);
          events.push_back(std::move(e));
        }
        publisher->publish(std::move(events));  // blocks through the outage
        published += batch;
      }
    } catch (const std::exception& e) {
      publish_error = e.what();
    }
  });

  REQUIRE(wait_until([&] { return handled() >= 3'000; }, std::chrono::seconds(60)));
  kafka_script("kill9");
  const std::size_t at_kill = handled();
  kafka_script("start");
  producer.join();
  REQUIRE(publish_error.empty());
  CHECK(published == total);
  REQUIRE(wait_until([&] { return handled() >= total; }, std::chrono::seconds(120)));
  REQUIRE(consumer->flush(std::chrono::seconds(60)));

  std::lock_guard lock(mutex);
  INFO("handled " << at_kill << " before the kill, " << duplicates << " redeliveries suppressed");
  CHECK(effects.size() == static_cast<std::size_t>(total));
  int twice = 0;
  for (const auto& [id, n] : effects) twice += n > 1;
  CHECK(twice == 0);
}
