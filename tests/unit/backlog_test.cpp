#include <catch2/catch.hpp>

#include <atomic>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/routed_bus.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;

namespace {

// A handler that holds every event until released.
struct Gate {
  std::atomic<bool> open{false};
  std::atomic<int> handled{0};
  void operator()(const Envelope&) {
    wait_until([&] { return open.load(); }, std::chrono::seconds(30));
    ++handled;
  }
};

}  // namespace

TEST_CASE("a memory group's backlog counts the events its handlers have not finished", "[memory][backlog]") {
  auto bus = make_bus("memory://?workers=2");
  Gate gate;
  auto sub = bus->subscribe({.pattern = "stock.#", .group = "warehouse"}, [&](const Envelope& e) { gate(e); });
  for (int i = 0; i < 5; ++i) bus->publish(Envelope::make("stock.moved"));
  GroupBacklog b = bus->backlog("warehouse", "stock.#");
  CHECK(b.known);
  CHECK(b.exists);
  CHECK(b.pending == 5);
  CHECK(b.retrying == 0);
  CHECK_FALSE(b.drained());
  gate.open = true;
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  b = bus->backlog("warehouse", "stock.#");
  CHECK(b.pending == 0);
  CHECK(b.drained());
  CHECK(gate.handled == 5);
}

TEST_CASE("an event waiting for its retry counts as retrying, and a dead letter as dead", "[memory][backlog]") {
  auto clock = std::make_shared<ManualScheduler>();
  BusConfig c = BusConfig::from_url("memory://?dispatch=inline");
  c.scheduler = clock;
  auto bus = make_bus(c);
  RetryPolicy policy{.max_attempts = 2, .initial_delay = milliseconds(100), .jitter = 0.0};
  auto sub = bus->subscribe({.pattern = "stock.#", .group = "warehouse", .retry = policy},
                            [](const Envelope&) { throw std::runtime_error("shelf full"); });
  // By reference: inline dispatch hands the caller's own envelope to the
  // handler, and copies it only for the retry.
  const Envelope moved = Envelope::make("stock.moved", nlohmann::json::object(), "/warehouse");
  bus->publish(moved);
  GroupBacklog b = bus->backlog("warehouse");
  CHECK(b.retrying == 1);
  CHECK(b.pending == 0);
  CHECK(b.dead == 0);
  CHECK_FALSE(b.drained());
  // Admitted once it had to wait (an inline delivery that succeeds at once
  // never is): flush() waits for it.
  CHECK_FALSE(bus->flush(milliseconds(0)));
  clock->advance(milliseconds(100));  // the second attempt fails too: dead-lettered
  b = bus->backlog("warehouse");
  CHECK(b.retrying == 0);
  CHECK(b.pending == 0);
  CHECK(b.dead == 1);
  CHECK(b.drained());  // dead letters wait for an operator, not for the group
  CHECK(bus->flush(milliseconds(0)));
}

TEST_CASE("a group that never subscribed has nothing, and says so", "[memory][backlog]") {
  auto bus = make_bus("memory://");
  GroupBacklog b = bus->backlog("nobody");
  CHECK(b.known);
  CHECK_FALSE(b.exists);
  CHECK(b.pending + b.retrying + b.dead == 0);
}

TEST_CASE("an event addressed to one group is handled by that group alone", "[memory][backlog]") {
  auto bus = make_bus("memory://?dispatch=inline");
  std::atomic<int> mailer{0}, billing{0};
  auto a = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope&) { ++mailer; });
  auto b = bus->subscribe({.pattern = "order.*", .group = "billing"}, [&](const Envelope&) { ++billing; });
  Envelope e = Envelope::make("order.created");
  e.extensions[group_extension] = "mailer";
  bus->publish(e);
  bus->publish(Envelope::make("order.created"));
  CHECK(mailer == 2);
  CHECK(billing == 1);
  CHECK(bus->metrics().snapshot().total_published() == 2);
}

TEST_CASE("moving dead letters hands them to the same group on the new transport and to no other", "[memory][backlog]") {
  auto old_bus = make_bus("memory://?dispatch=inline");
  auto new_bus = make_bus("memory://?dispatch=inline");
  auto failing = old_bus->subscribe({.pattern = "order.*", .group = "mailer"},
                                    [](const Envelope&) { throw PermanentError("smtp down"); });
  Envelope lost = Envelope::make("order.created", {{"order", 7}});
  old_bus->publish(lost);
  REQUIRE(old_bus->dead_letters("mailer").size() == 1);
  const std::string id = old_bus->dead_letters("mailer").front().event.id;

  Recorder<Envelope> mailer, billing;
  auto m = new_bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) { mailer.add(e); });
  auto b = new_bus->subscribe({.pattern = "order.*", .group = "billing"}, [&](const Envelope& e) { billing.add(e); });

  CHECK(move_dead_letters(*old_bus, *new_bus, "mailer") == 1);
  REQUIRE(mailer.size() == 1);
  CHECK(mailer.items().front().id == id);  // same event: the group's idempotency recognises it
  CHECK(mailer.items().front().payload() == nlohmann::json{{"order", 7}});
  CHECK(billing.size() == 0);
  CHECK(old_bus->dead_letters("mailer").empty());
  CHECK(move_dead_letters(*old_bus, *new_bus, "mailer") == 0);
}

TEST_CASE("a dead letter stays where it is when the new side does not take it", "[memory][backlog]") {
  auto old_bus = make_bus("memory://?dispatch=inline");
  auto failing = old_bus->subscribe({.pattern = "order.*", .group = "mailer"},
                                    [](const Envelope&) { throw PermanentError("smtp down"); });
  old_bus->publish(Envelope::make("order.created"));
  old_bus->publish(Envelope::make("order.paid"));
  REQUIRE(old_bus->dead_letters("mailer").size() == 2);

  SECTION("the group does not exist there: refused before anything moves") {
    auto new_bus = make_bus("memory://");
    CHECK_THROWS_AS(move_dead_letters(*old_bus, *new_bus, "mailer"), NotFoundError);
    CHECK(old_bus->dead_letters("mailer").size() == 2);
  }
  SECTION("the publish fails: that letter and those after it stay") {
    int calls = 0;
    CHECK_THROWS_AS(old_bus->hand_over_dead_letters("mailer", std::nullopt,
                                                    [&](const DeadLetter&) {
                                                      if (++calls == 2) throw PublishError("broker away");
                                                    }),
                    PublishError);
    CHECK(old_bus->dead_letters("mailer").size() == 1);
  }
  SECTION("one letter by id") {
    auto new_bus = make_bus("memory://?dispatch=inline");
    Recorder<Envelope> mailer;
    auto m = new_bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) { mailer.add(e); });
    const std::string paid = old_bus->dead_letters("mailer").back().event.id;
    CHECK(move_dead_letters(*old_bus, *new_bus, "mailer", paid) == 1);
    REQUIRE(mailer.size() == 1);
    CHECK(mailer.items().front().type == "order.paid");
    REQUIRE(old_bus->dead_letters("mailer").size() == 1);
    CHECK(old_bus->dead_letters("mailer").front().event.type == "order.created");
  }
}

TEST_CASE("a routed bus's backlog is the sum of the targets the pattern reads from", "[memory][backlog][routes]") {
  BusConfig c;
  c.routes = {{.match = "order.#", .publish = {"memory://?workers=1"}, .subscribe = {"memory://?workers=1", "memory://?workers=2"}},
              {.match = "#", .publish = {"memory://?workers=2"}}};
  auto bus = make_routed_bus(c);
  Gate gate;
  auto sub = bus->subscribe({.pattern = "#", .group = "audit"}, [&](const Envelope& e) { gate(e); });
  bus->publish(Envelope::make("order.created"));
  bus->publish(Envelope::make("order.created"));
  bus->publish(Envelope::make("user.joined"));
  CHECK(bus->backlog("audit", "#").pending == 3);
  CHECK(bus->target("memory://?workers=1").backlog("audit").pending == 2);
  CHECK(bus->target("memory://?workers=2").backlog("audit").pending == 1);
  CHECK(bus->backlog("audit", "order.#").pending == 3);  // order.# reads both targets
  gate.open = true;
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  CHECK(bus->backlog("audit", "#").drained());
}

TEST_CASE("a routed bus hands over the dead letters of every target its routes read from", "[memory][backlog][routes]") {
  BusConfig c;
  c.routes = {{.match = "order.#", .publish = {"memory://?dispatch=inline&workers=1"}},
              {.match = "#", .publish = {"memory://?dispatch=inline&workers=2"}}};
  auto old_bus = make_routed_bus(c);
  auto failing = old_bus->subscribe({.pattern = "#", .group = "audit"},
                                    [](const Envelope&) { throw PermanentError("disk full"); });
  old_bus->publish(Envelope::make("order.created"));
  old_bus->publish(Envelope::make("user.joined"));
  REQUIRE(old_bus->backlog("audit").dead == 2);

  auto new_bus = make_bus("memory://?dispatch=inline");
  Recorder<std::string> audit;
  auto sub = new_bus->subscribe({.pattern = "#", .group = "audit"}, [&](const Envelope& e) { audit.add(e.type); });
  CHECK(move_dead_letters(*old_bus, *new_bus, "audit") == 2);
  CHECK(audit.size() == 2);
  CHECK(old_bus->backlog("audit").dead == 0);
}
