#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// Fails, and waits ten minutes before the next attempt.
RetryPolicy slow_retry() {
  RetryPolicy p;
  p.max_attempts = 3;
  p.initial_delay = std::chrono::minutes(10);
  p.max_delay = std::chrono::minutes(10);
  p.jitter = 0;
  return p;
}

}  // namespace

TEST_CASE("with queue_expires only the group queue expires: dead letters and waiting retries stay",
          "[rabbitmq][topology][expires]") {
  const std::string ns = unique_name("expires");
  auto bus = make_bus(
      isolated_config(ns, {{"queue_expires", "1s"}, {"dead_letter_expires", "0"}, {"unroutable", "error"}}));
  const std::string group = ns + "-tasks";
  const std::string queue = "herald.it." + group;
  const std::string dlq = queue + ".dlq";
  const std::string retry = queue + ".retry.1";
  auto sub = bus->subscribe({.pattern = "task.*", .group = group, .retry = slow_retry()},
                            [](const Envelope&) { throw std::runtime_error("not today"); });
  RawBroker raw;
  raw.publish("herald.it." + ns, "task.garbled", "{not json");  // dead-lettered at once
  bus->publish(Envelope::make("task.run", {{"n", 1}}));         // waits in the delay queue
  REQUIRE(wait_until([&] { return raw.count(dlq) == 1u && raw.count(retry) == 1u; }, deadline));

  // Declaring them again without x-expires is refused if they carry one.
  CHECK_NOTHROW(raw.declare_queue(dlq));
  CHECK_NOTHROW(raw.declare_queue(retry, {{"x-dead-letter-exchange", std::string()},
                                          {"x-dead-letter-routing-key", queue}}));

  // Nobody consumes any more. Publishing does not keep a queue alive, so
  // once the event is unroutable the group queue has expired.
  sub.cancel();
  REQUIRE(wait_until(
      [&] {
        try {
          bus->publish(Envelope::make("task.run", {{"n", 2}}));
          return false;
        } catch (const PublishError&) {
          return true;
        }
      },
      deadline));
  CHECK(raw.count(dlq) == 1u);
  CHECK(raw.count(retry) == 1u);
  CHECK(bus->dead_letters(group).size() == 1);
  raw.delete_queue(dlq);
  raw.delete_queue(retry);
}

TEST_CASE("queues an earlier version declared with x-expires are still used", "[rabbitmq][topology][expires]") {
  const std::string ns = unique_name("expires");
  const std::string group = ns + "-legacy";
  const std::string queue = "herald.it." + group;
  RawBroker raw;
  // As herald declared them before dead-letter and delay queues lost x-expires.
  raw.declare_queue("herald.it." + ns + ".unroutable",
                    {{"x-max-length", 100000LL}, {"x-overflow", std::string("reject-publish")}, {"x-expires", 600000LL}});
  raw.declare_queue(queue + ".dlq", {{"x-expires", 600000LL}});
  raw.declare_queue(queue + ".retry.1", {{"x-dead-letter-exchange", std::string()},
                                         {"x-dead-letter-routing-key", queue},
                                         {"x-expires", 600000LL}});
  auto bus = make_bus(isolated_config(ns, {{"dead_letter_expires", "0"}}));
  std::atomic<int> calls{0};
  RetryPolicy twice;
  twice.max_attempts = 2;
  twice.initial_delay = std::chrono::milliseconds(10);
  twice.jitter = 0;
  auto sub = bus->subscribe({.pattern = "legacy.*", .group = group, .retry = twice}, [&](const Envelope&) {
    ++calls;
    throw std::runtime_error("no");
  });
  Envelope e = Envelope::make("legacy.thing", {{"n", 1}});
  bus->publish(e);
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = bus->dead_letters(group)).empty(); }, deadline));
  CHECK(calls == 2);
  CHECK(letters.front().event.id == e.id);
  CHECK(bus->flush(deadline));
  sub.cancel();
  for (const char* suffix : {".dlq", ".retry.1"}) raw.delete_queue(queue + suffix);
  raw.delete_queue("herald.it." + ns + ".unroutable");
}
