#include <catch2/catch.hpp>

#include <future>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("replaying dead letters that fail again ends, having replayed the letters it found",
          "[rabbitmq][dlq][replay]") {
  const std::string ns = unique_name("replay");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-hopeless";
  const std::string dlq = "herald.it." + group + ".dlq";
  std::atomic<int> calls{0};
  // Every run fails and there is no retry: each replayed letter is back in
  // the dead-letter queue moments later, while the replay still runs.
  auto sub = bus->subscribe({.pattern = "doomed.*", .group = group, .concurrency = 4, .retry = RetryPolicy::none()},
                            [&](const Envelope&) {
                              ++calls;
                              throw std::runtime_error("still broken");
                            });
  constexpr std::size_t letters = 20;
  std::vector<Envelope> events;
  for (std::size_t i = 0; i < letters; ++i) events.push_back(Envelope::make("doomed.event", {{"n", i}}));
  bus->publish(events);
  RawBroker raw;
  REQUIRE(wait_until([&] { return raw.count(dlq) == letters; }, std::chrono::seconds(30)));

  const auto started = std::chrono::steady_clock::now();
  auto replay = std::async(std::launch::async, [&] { return bus->replay_dead_letters(group); });
  const bool returned = replay.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  sub.cancel();  // letters stop coming back: a replay that did not end ends now
  const std::size_t replayed = replay.get();
  INFO("replay returned " << replayed << " after " << took.count() << " ms; handler runs " << calls.load());
  CHECK(returned);
  CHECK(replayed == letters);
  raw.delete_queue(dlq);
}

TEST_CASE("replaying one letter by id while others fail again also ends", "[rabbitmq][dlq][replay]") {
  const std::string ns = unique_name("replay");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-picky";
  const std::string dlq = "herald.it." + group + ".dlq";
  auto sub = bus->subscribe({.pattern = "doomed.*", .group = group, .concurrency = 2, .retry = RetryPolicy::none()},
                            [&](const Envelope&) { throw std::runtime_error("still broken"); });
  std::vector<Envelope> events;
  for (int i = 0; i < 5; ++i) events.push_back(Envelope::make("doomed.event", {{"n", i}}));
  bus->publish(events);
  RawBroker raw;
  REQUIRE(wait_until([&] { return raw.count(dlq) == 5u; }, std::chrono::seconds(30)));
  // The replayed letter is back behind the others before the replay reaches the end.
  auto replay = std::async(std::launch::async, [&] { return bus->replay_dead_letters(group, events[2].id); });
  const bool returned = replay.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  if (!returned) sub.cancel();
  CHECK(returned);
  CHECK(replay.get() == 1);
  CHECK(bus->replay_dead_letters(group, "no-such-id") == 0);
  REQUIRE(wait_until([&] { return raw.count(dlq) == 5u; }, std::chrono::seconds(30)));  // nothing lost on the way
  raw.delete_queue(dlq);
}
