// What a group has left on Kafka (its lag, retry topic and dead letters),
// and moving its dead letters to another transport.

#include <catch2/catch.hpp>

#include <atomic>

#include "herald/errors.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a Kafka group's backlog is its lag, and its dead letters", "[kafka][backlog]") {
  KafkaFixture f;
  const std::string group = f.group("stock");
  CHECK_FALSE(f.bus->backlog(group, "stock.*").exists);

  // The first subscription places the group at the end; then no consumer runs.
  f.bus->subscribe({.pattern = "stock.*", .group = group}, [](const Envelope&) {}).cancel();
  constexpr std::uint64_t n = 6;
  std::vector<Envelope> events;
  for (std::uint64_t i = 0; i < n; ++i) events.push_back(Envelope::make("stock.moved", {{"n", i}}));
  f.bus->publish(events);
  GroupBacklog b = f.bus->backlog(group, "stock.*");
  CHECK(b.known);
  CHECK(b.exists);
  CHECK(b.pending == n);
  CHECK(b.retrying == 0);
  CHECK(b.dead == 0);
  CHECK_FALSE(b.drained());

  std::atomic<std::uint64_t> handled{0};
  auto sub = f.bus->subscribe({.pattern = "stock.*", .group = group, .retry = RetryPolicy::none()}, [&](const Envelope& e) {
    if (e.payload().value("fail", false)) throw std::runtime_error("shelf missing");
    ++handled;
  });
  f.bus->publish(Envelope::make("stock.moved", {{"fail", true}}));
  REQUIRE(wait_until([&] { return handled == n; }, std::chrono::seconds(60)));
  REQUIRE(f.bus->flush(std::chrono::seconds(60)));
  REQUIRE(wait_until([&] { return f.bus->backlog(group, "stock.*").pending == 0; }, std::chrono::seconds(30)));
  b = f.bus->backlog(group, "stock.*");
  CHECK(b.retrying == 0);
  CHECK(b.dead == 1);
  CHECK(b.drained());
}

TEST_CASE("Kafka dead letters move to the same group on another transport, and to no other group there",
          "[kafka][backlog][dlq]") {
  KafkaFixture f;
  const std::string group = f.group("mailer");
  auto failing = f.bus->subscribe({.pattern = "order.*", .group = group, .retry = RetryPolicy::none()},
                                  [](const Envelope&) { throw std::runtime_error("smtp down"); });
  f.bus->publish(Envelope::make("order.created", {{"order", 7}}));
  f.bus->publish(Envelope::make("order.paid", {{"order", 7}}));
  REQUIRE(wait_until([&] { return f.bus->dead_letters(group).size() == 2; }, std::chrono::seconds(60)));
  failing.cancel();
  const std::string paid = f.bus->dead_letters(group).at(1).event.id;

  auto new_bus = make_bus("memory://?dispatch=inline");
  Recorder<Envelope> mailer, billing;
  auto m = new_bus->subscribe({.pattern = "order.*", .group = group}, [&](const Envelope& e) { mailer.add(e); });
  auto b = new_bus->subscribe({.pattern = "order.*", .group = f.group("billing")}, [&](const Envelope& e) { billing.add(e); });

  CHECK(move_dead_letters(*f.bus, *new_bus, group, paid) == 1);
  REQUIRE(mailer.size() == 1);
  CHECK(mailer.items().front().id == paid);
  CHECK(f.bus->dead_letters(group).size() == 1);  // the other one stays

  CHECK(move_dead_letters(*f.bus, *new_bus, group) == 1);
  CHECK(mailer.size() == 2);
  CHECK(billing.size() == 0);
  CHECK(f.bus->dead_letters(group).empty());
  CHECK(f.bus->backlog(group, "order.*").dead == 0);
}
