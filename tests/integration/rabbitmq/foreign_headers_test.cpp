#include <catch2/catch.hpp>

#include <climits>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a foreign retry count out of range or of the wrong type cannot make an event loop",
          "[rabbitmq][retry][headers]") {
  using Value = RawBroker::Value;
  const auto [name, value] = GENERATE(table<std::string, Value>({
      {"x-herald-attempts", Value(static_cast<long long>(INT_MIN))},
      {"x-herald-attempts", Value(static_cast<long long>(INT_MIN) + 1)},
      {"x-herald-attempts", Value(static_cast<long long>(INT_MAX))},
      {"x-herald-attempts", Value(1LL << 32)},
      {"x-herald-attempts", Value(-(1LL << 32) + 1)},
      {"x-herald-attempts", Value(LLONG_MIN)},
      {"x-herald-attempts", Value(std::string("-2147483648"))},
      {"x-herald-attempts", Value(std::string("many"))},
      {"x-herald-attempts", Value(std::string("99999999999999999999999"))},
      {"x-herald-attempts", Value(std::string("-99999999999999999999999"))},
      {"x-herald-redeliveries", Value(static_cast<long long>(INT_MIN))},
      {"x-herald-redeliveries", Value(LLONG_MAX)},
  }));
  INFO(name << " = " << (std::holds_alternative<long long>(value) ? std::to_string(std::get<long long>(value))
                                                                   : std::get<std::string>(value)));
  const std::string ns = unique_name("foreign");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-jobs";
  std::atomic<int> calls{0};
  RetryPolicy three;
  three.max_attempts = 3;
  three.initial_delay = std::chrono::milliseconds(10);
  three.max_delay = std::chrono::milliseconds(20);
  three.jitter = 0;
  auto sub = bus->subscribe({.pattern = "job.*", .group = group, .retry = three}, [&](const Envelope&) {
    ++calls;
    throw std::runtime_error("always");
  });
  Envelope e = Envelope::make("job.run", {{"n", 1}}, "/jobs");
  RawBroker raw;
  raw.publish("herald.it." + ns, e.type, encode(e), {{name, value}}, e.id);

  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = bus->dead_letters(group)).empty(); }, std::chrono::seconds(15)));
  INFO("handler runs " << calls.load() << ", dead letter attempts " << letters.front().attempts);
  CHECK(calls <= 3);
  CHECK(letters.front().event.id == e.id);
  CHECK(letters.front().attempts >= 0);
  CHECK(letters.front().attempts <= 3);
  CHECK(bus->flush(std::chrono::seconds(15)));
  // Delay queues are named by attempt: none for a count the policy never gives.
  for (int n : {-2147483647, 0, 4, 2147483647})
    CHECK_FALSE(raw.count("herald.it." + group + ".retry." + std::to_string(n)));
}
