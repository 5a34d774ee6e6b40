// Dead letters' AMQP headers and crash counting. (An undecodable body is the
// conformance suite's: foreign_test.cpp.)

#include <catch2/catch.hpp>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

RetryPolicy quick(int attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_delay = std::chrono::milliseconds(10);
  p.max_delay = std::chrono::milliseconds(50);
  p.jitter = 0;
  return p;
}

}  // namespace

TEST_CASE("a dead letter carries the core record in its AMQP headers", "[rabbitmq][dlq][headers]") {
  const std::string ns = unique_name("dlq");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-payments";
  auto sub = bus->subscribe({.pattern = "payment.*", .group = group, .retry = quick(2)},
                            [](const Envelope&) { throw std::runtime_error("gateway said no"); });
  Envelope e = Envelope::make("payment.captured", {{"amount", 5}}, "/payments");
  e.partitionkey = "acct-9";
  bus->publish(e);
  REQUIRE(wait_until([&] { return bus->dead_letters(group).size() == 1; }, deadline));
  REQUIRE(bus->flush(deadline));

  RawBroker raw;
  auto m = raw.get("herald.it." + group + ".dlq", false);
  REQUIRE(m);
  raw.requeue_unacked();
  CHECK(m->headers["x-herald-dl-reason"] == "max_attempts");
  CHECK(m->headers["x-herald-dl-attempts"] == "2");
  CHECK(m->headers["x-herald-dl-group"] == group);
  CHECK(m->headers["x-herald-dl-routing-key"] == "payment.captured");
  CHECK(m->headers["x-herald-dl-last-error"] == "gateway said no");
  REQUIRE_FALSE(m->headers["x-herald-dl-first-failure"].empty());
  CHECK(parse_time(m->headers["x-herald-dl-first-failure"]) <= parse_time(m->headers["x-herald-dl-last-failure"]));
  CHECK(m->headers.count("x-herald-attempts") == 0);  // retry bookkeeping does not follow it
  CHECK(m->headers["x-herald-partitionkey"] == "acct-9");
  CHECK(m->message_id == e.id);
  CHECK(decode(m->body) == e);
  CHECK(raw.count("herald.it." + group + ".dlq") == 1u);  // listing and peeking lost nothing
}

TEST_CASE("a redelivery counts as an attempt, so a crashing consumer cannot loop forever",
          "[rabbitmq][dlq][redelivery]") {
  const std::string ns = unique_name("redeliver");
  const auto type = GENERATE(as<std::string>{}, "classic", "quorum");
  INFO("queue_type " << type);
  auto bus = make_bus(isolated_config(ns, {{"queue_type", type}}));
  const std::string group = ns + "-crashy";
  const std::string queue = "herald.it." + group;
  { auto sub = bus->subscribe({.pattern = "job.*", .group = group}, [](const Envelope&) {}); }
  Envelope e = Envelope::make("job.started", {{"n", 1}});
  bus->publish(e);
  // A consumer takes it and dies without an outcome.
  RawBroker raw;
  REQUIRE(raw.get(queue, false));
  raw.requeue_unacked();

  std::atomic<int> calls{0};
  SECTION("within the budget the event is handled once more") {
    auto sub = bus->subscribe({.pattern = "job.*", .group = group, .retry = quick(2)}, [&](const Envelope&) { ++calls; });
    REQUIRE(wait_until([&] { return calls.load() == 1; }, deadline));
    REQUIRE(bus->flush(deadline));
    CHECK(calls == 1);
    CHECK(bus->dead_letters(group).empty());
  }
  SECTION("past the budget it is dead-lettered without running the handler again") {
    auto sub = bus->subscribe({.pattern = "job.*", .group = group, .retry = quick(1)}, [&](const Envelope&) { ++calls; });
    std::vector<DeadLetter> letters;
    REQUIRE(wait_until([&] { return !(letters = bus->dead_letters(group)).empty(); }, deadline));
    CHECK(calls == 0);
    CHECK(letters.front().reason == dead_letter_reason_max_attempts);
    CHECK(letters.front().event.id == e.id);
    CHECK_THAT(letters.front().last_error, Catch::Contains("without an outcome"));
  }
}
