// Ephemeral subscriptions on RabbitMQ leave nothing on the broker: their
// queue is exclusive to the bus's connection and goes with the subscription
// (or the process); retries still come back through a delay queue, and dead
// letters wait in a dead-letter queue, both of which expire on their own.

#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {


// The group core made for an ephemeral subscription named `prefix`, as the
// bus's metrics name it once one of its handlers ran.
std::string group_named(EventBus& bus, const std::string& prefix) {
  for (const auto& [key, counters] : bus.metrics().snapshot().consumed)
    if (key.second.rfind(prefix + "-", 0) == 0) return key.second;
  return "";
}

}  // namespace

TEST_CASE("an ephemeral subscription's queue belongs to its connection and is gone once the subscription ends",
          "[rabbitmq][ephemeral]") {
  const std::string ns = unique_name("ephemeral");
  auto bus = make_bus(isolated_config(ns, {{"unroutable", "error"}}));
  Recorder<std::string> got;
  auto sub = bus->subscribe({.pattern = "cache.#", .group = ns + "-cache", .ephemeral = true},
                            [&](const Envelope& e) { got.add(e.id); });
  bus->publish(Envelope::make("cache.invalidated", {{"key", 1}}));
  REQUIRE(got.wait_for(1, deadline));
  const std::string group = group_named(*bus, ns + "-cache");
  REQUIRE_FALSE(group.empty());
  const std::string queue = "herald.it." + group;

  RawBroker raw;
  CHECK(raw.passive_declare_code(queue) == 405);  // exclusive: another connection cannot even look
  CHECK(raw.passive_declare_code(queue + ".redelivered") == 404);

  sub.cancel();
  CHECK(wait_until([&] { return raw.passive_declare_code(queue) == 404; }, deadline));
  CHECK(unroutable(*bus, "cache.invalidated"));  // nothing is bound any more
}

TEST_CASE("an ephemeral queue goes when its bus closes without cancelling", "[rabbitmq][ephemeral]") {
  const std::string ns = unique_name("ephemeral");
  auto bus = make_bus(isolated_config(ns, {{"unroutable", "error"}}));
  Recorder<std::string> got;
  auto sub = bus->subscribe({.pattern = "cache.#", .group = ns + "-cache", .ephemeral = true},
                            [&](const Envelope& e) { got.add(e.id); });
  bus->publish(Envelope::make("cache.invalidated", {{"key", 1}}));
  REQUIRE(got.wait_for(1, deadline));
  const std::string queue = "herald.it." + group_named(*bus, ns + "-cache");
  bus->close();

  RawBroker raw;
  CHECK(wait_until([&] { return raw.passive_declare_code(queue) == 404; }, deadline));
}

TEST_CASE("an ephemeral subscription retries through a delay queue and keeps dead letters, both expiring",
          "[rabbitmq][ephemeral][retry]") {
  const std::string ns = unique_name("ephemeral");
  // dead_letter_expires unset: an ephemeral subscription's dead letters stay a day.
  auto bus = make_bus(isolated_config(ns, {{"dead_letter_expires", "0"}}));
  RetryPolicy quick;
  quick.max_attempts = 3;
  quick.initial_delay = std::chrono::milliseconds(50);
  quick.max_delay = std::chrono::milliseconds(50);
  quick.jitter = 0;
  std::atomic<int> runs_of_flaky{0};
  Recorder<std::string> done;
  auto sub = bus->subscribe({.pattern = "job.*", .group = ns + "-jobs", .retry = quick, .ephemeral = true},
                            [&](const Envelope& e) {
                              if (e.type == "job.poison") throw PermanentError("never works");
                              if (runs_of_flaky.fetch_add(1) == 0) throw std::runtime_error("not yet");
                              done.add(e.id);
                            });
  Envelope flaky = Envelope::make("job.flaky", {{"n", 1}});
  Envelope poison = Envelope::make("job.poison", {{"n", 2}});
  bus->publish(flaky);
  bus->publish(poison);
  REQUIRE(done.wait_for(1, deadline));
  REQUIRE(bus->flush(deadline));
  CHECK(done.items() == std::vector<std::string>{flaky.id});
  CHECK(runs_of_flaky.load() == 2);  // failed once, came back from the delay queue, succeeded

  const std::string group = group_named(*bus, ns + "-jobs");
  REQUIRE_FALSE(group.empty());
  const std::string queue = "herald.it." + group;
  auto letters = bus->dead_letters(group);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].event.id == poison.id);
  CHECK(letters[0].reason == "non_retriable");

  // Both carry an x-expires: declaring them without one is refused, naming it.
  RawBroker raw;
  auto refusal = [&](const std::string& name, const RawBroker::Table& arguments) -> std::string {
    try {
      raw.declare_queue(name, arguments);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  const std::string retry_queue = queue + ".retry.1";
  const std::string delay_refusal =
      refusal(retry_queue, {{"x-dead-letter-exchange", std::string()}, {"x-dead-letter-routing-key", queue}});
  CHECK_THAT(delay_refusal, Catch::Contains("x-expires") && Catch::Contains("60050"));  // max_delay + 1 min
  const std::string dlq_refusal = refusal(queue + ".dlq", {});
  CHECK_THAT(dlq_refusal, Catch::Contains("x-expires") && Catch::Contains("86400000"));  // a day

  // Its queue belongs to the consuming connection: no replay into it while it lives, none after.
  CHECK_THROWS_AS(bus->replay_dead_letters(group), ConfigError);
  CHECK(bus->dead_letters(group).size() == 1);
  sub.cancel();
  CHECK(wait_until([&] { return raw.passive_declare_code(queue) == 404; }, deadline));
  CHECK_THROWS_AS(bus->replay_dead_letters(group), NotFoundError);
  raw.delete_queue(retry_queue);
  raw.delete_queue(queue + ".dlq");
}
