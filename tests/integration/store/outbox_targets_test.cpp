// Dual publish through the outbox: each publish target of a route keeps its
// own delivery state, so one target's outage never blocks or replays another.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/transport.hpp"
#include "herald/outbox.hpp"
#include "herald/relay.hpp"
#include "herald/routed_bus.hpp"
#include "relay_fixture.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::seconds;

namespace {

// Dual targets "a" and "b" for order events; other types have none.
AppendOptions dual_order_targets() {
  AppendOptions o;
  o.targets = [](const Envelope& e) -> std::vector<std::string> {
    if (e.type.rfind("order.", 0) == 0) return {"a", "b"};
    return {};
  };
  return o;
}

RelayOptions target_relay(const std::string& target, TestClock& clock, int max_attempts = 5) {
  RelayOptions o;
  o.retry = {.max_attempts = max_attempts, .initial_delay = seconds(1), .multiplier = 2.0,
             .max_delay = seconds(60), .jitter = 0.0};
  o.batch_size = 40;
  o.owner = "test-relay-" + (target.empty() ? std::string("main") : target);
  o.clock = [&clock] { return clock.now(); };
  o.target = target;
  return o;
}

bool in_order_per_key(const OrderRecorder& r) {
  for (const auto& [order, ns] : r.by_order())
    if (!std::is_sorted(ns.begin(), ns.end())) return false;
  return true;
}

// A transport `switch://NAME` that is a FailingBus the test reaches by NAME,
// so that a configured route can have a target that fails at will.
struct Switchboard {
  std::mutex mutex;
  std::map<std::string, FailingBus*> buses;
  std::set<std::string> down;  // made down: the test attaches recorders first

  static Switchboard& get() {
    static Switchboard board;  // for the process, like the transport registry
    static const bool registered = [] {
      register_transport("switch", [](const BusConfig& c) {
        auto bus = std::make_unique<FailingBus>();
        std::lock_guard lock(board.mutex);
        const std::string name = Url::parse(c.url).host;
        board.buses[name] = bus.get();
        if (board.down.count(name)) bus->go_down();
        return bus;
      });
      return true;
    }();
    (void)registered;
    return board;
  }
  /// The next bus made for `name` starts down.
  void make_down(const std::string& name) {
    std::lock_guard lock(mutex);
    down.insert(name);
  }
  FailingBus& operator[](const std::string& name) {
    std::lock_guard lock(mutex);
    return *buses.at(name);
  }
};

}  // namespace

TEST_CASE("events appended with targets get one delivery per target, and the event row reads as handed over",
          "[outbox][targets]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  std::vector<Envelope> events;
  for (int n = 0; n < 6; ++n) events.push_back(order_event("order.updated", std::to_string(n % 2), n));
  events.push_back(order_event("invoice.sent", "9", 6));
  auto positions = store->append(events, dual_order_targets());
  REQUIRE(positions.size() == 7);

  CHECK(store->delivery_targets() == std::vector<std::string>{"a", "b"});
  CHECK(store->count_pending() == 1);  // the invoice: no targets, the event row is its delivery
  CHECK(store->count_pending("a") == 6);
  CHECK(store->count_pending("b") == 6);
  auto row = store->get(events[0].id);  // find() reads the event, one row per id
  CHECK(row.delivered_at);
  CHECK(row.target.empty());
  CHECK(row.event.id == events[0].id);
  CHECK(store->scan({}, 0, 100).events.size() == 7);

  auto per_target = store->target_status();
  REQUIRE(per_target.size() == 2);
  CHECK(per_target[0].target == "a");
  CHECK(per_target[0].status.pending == 6);
  CHECK(per_target[0].status.oldest_pending);
  CHECK(per_target[1].status.dead == 0);

  AppendOptions twice;
  twice.targets = [](const Envelope&) { return std::vector<std::string>{"a", "a"}; };
  std::vector<Envelope> bad{order_event("order.updated", "1", 7)};
  CHECK_THROWS_AS(store->append(bad, twice), ConfigError);
  CHECK(store->status().last_position == positions.back());  // nothing appended
}

TEST_CASE("while one target fails, the other gets every event once and in order, and the failing one catches up",
          "[outbox][targets][relay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  TestClock clock;
  FailingBus a, b;
  OrderRecorder got_a{a}, got_b{b};
  std::vector<Envelope> events;
  for (int n = 0; n < 100; ++n) events.push_back(order_event("order.updated", std::to_string(n % 7), n));
  store->append(events, dual_order_targets());

  SECTION("b refuses each event (its attempts are spent, with backoff)") {
    b.refuse([](const Envelope&) -> std::optional<std::string> { return "refused by b (test)"; });
  }
  SECTION("b is down (the relay backs off, no attempt spent)") { b.go_down(); }

  // Several passes of each relay, more events appended between them.
  for (int round = 0; round < 3; ++round) {
    relay_pass(*store, a, target_relay("a", clock));
    relay_pass(*store, b, target_relay("b", clock));
    clock.advance(std::chrono::minutes(1));
    std::vector<Envelope> more;
    for (int n = 100 + round * 10; n < 110 + round * 10; ++n)
      more.push_back(order_event("order.updated", std::to_string(n % 7), n));
    store->append(more, dual_order_targets());
  }
  relay_pass(*store, a, target_relay("a", clock));
  CHECK(got_a.seen.size() == 130);  // nothing replayed to a
  CHECK(got_a.distinct() == 130);
  CHECK(in_order_per_key(got_a));
  CHECK(got_b.seen.size() == 0);
  CHECK(store->count_pending("a") == 0);
  CHECK(store->count_pending("b") == 130);
  CHECK(store->status("a").delivered == 130);
  CHECK(store->status("b").dead == 0);
  CHECK(store->count_pending() == 0);
  // The main relay has nothing to do with them.
  CHECK(relay_pass(*store, a, target_relay("", clock)).claimed == 0);

  b.heal();
  clock.advance(std::chrono::minutes(10));
  auto stats = relay_pass(*store, b, target_relay("b", clock));
  CHECK(stats.delivered == 130);
  CHECK(got_b.seen.size() == 130);
  CHECK(got_b.distinct() == 130);
  CHECK(in_order_per_key(got_b));
  CHECK(store->count_pending("b") == 0);
  CHECK(got_a.seen.size() == 130);
  CHECK(relay_pass(*store, a, target_relay("a", clock)).delivered == 0);
}

TEST_CASE("a dead delivery on one target holds back its key there only, and is replayed or skipped there only",
          "[outbox][targets][relay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  TestClock clock;
  FailingBus a, b;
  OrderRecorder got_a{a}, got_b{b};
  std::vector<Envelope> events;
  for (int n = 0; n < 10; ++n) events.push_back(order_event("order.updated", n % 2 ? "y" : "x", n));
  store->append(events, dual_order_targets());
  const std::string poison = events[2].id;  // x, n = 2
  b.refuse([&](const Envelope& e) -> std::optional<std::string> {
    if (e.id == poison) return "b refuses x2 (test)";
    return std::nullopt;
  });

  relay_pass(*store, a, target_relay("a", clock, 1));
  relay_pass(*store, b, target_relay("b", clock, 1));
  CHECK(got_a.seen.size() == 10);
  CHECK(got_b.by_order()["x"] == std::vector<int>{0});  // x2 dead, x4.. held back on b
  CHECK(got_b.by_order()["y"] == std::vector<int>{1, 3, 5, 7, 9});
  auto dead = store->dead_letters(100, "b");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].event.id == poison);
  CHECK(dead[0].target == "b");
  CHECK(dead[0].last_error == "b refuses x2 (test)");
  CHECK(store->dead_letters(100, "a").empty());
  CHECK(store->dead_letters().empty());  // the event rows: none dead
  CHECK(store->status("b").dead == 1);
  CHECK_THROWS_AS(store->replay_dead_letters(poison, "a"), NotFoundError);

  // a is not held back by b's dead row.
  std::vector<Envelope> more{order_event("order.updated", "x", 10)};
  store->append(more, dual_order_targets());
  relay_pass(*store, a, target_relay("a", clock, 1));
  CHECK(got_a.by_order()["x"] == std::vector<int>{0, 2, 4, 6, 8, 10});

  SECTION("replayed on b, the dead delivery goes out before the ones it held back") {
    b.heal();
    CHECK(store->replay_dead_letters(poison, "b") == 1);
    relay_pass(*store, b, target_relay("b", clock, 1));
    CHECK(got_b.by_order()["x"] == std::vector<int>{0, 2, 4, 6, 8, 10});
    CHECK(got_a.seen.size() == 11);  // a untouched
  }
  SECTION("skipped on b, it is never delivered there and the rest of its key goes out") {
    store->skip_dead_letter(poison, "b");
    CHECK(store->dead_letters(100, "b").empty());
    relay_pass(*store, b, target_relay("b", clock, 1));
    CHECK(got_b.by_order()["x"] == std::vector<int>{0, 4, 6, 8, 10});
    CHECK(got_a.by_order()["x"] == std::vector<int>{0, 2, 4, 6, 8, 10});
  }
  CHECK(store->count_pending("b") == 0);
}

TEST_CASE("an outbox in front of a dual route relays each target on its own: an outage of one neither blocks nor "
          "replays the other",
          "[outbox][targets][config][routes]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  Switchboard& board = Switchboard::get();
  const std::string old_name = unique_name("old"), new_name = unique_name("new");
  const std::string old_url = "switch://" + old_name, new_url = "switch://" + new_name;
  nlohmann::json config = {
      {"routes",
       {{{"match", "order.#"}, {"publish", {old_url, new_url}}}, {{"match", "#"}, {"publish", {old_url}}}}},
      {"outbox", scratch.url()}};
  auto bus = make_bus(BusConfig::from_json(config));
  auto* outbox = dynamic_cast<OutboxBus*>(bus.get());
  REQUIRE(outbox);
  CHECK(outbox->targets() == std::vector<std::string>{old_url, new_url});
  REQUIRE(outbox->relay(new_url));
  FailingBus& old_bus = board[old_name];
  FailingBus& new_bus = board[new_name];
  OrderRecorder got_old{old_bus}, got_new{new_bus};

  new_bus.go_down();
  for (int n = 0; n < 200; ++n) bus->publish(order_event("order.updated", std::to_string(n % 10), n));
  // Other keys: order between routes is per route (docs/configuration.md).
  for (int n = 200; n < 210; ++n) bus->publish(order_event("invoice.sent", "i" + std::to_string(n % 10), n));
  REQUIRE(wait_until([&] { return got_old.distinct() == 210; }, std::chrono::seconds(30)));
  CHECK(got_old.seen.size() == 210);
  CHECK(in_order_per_key(got_old));
  CHECK(got_new.seen.size() == 0);
  auto& store = outbox->store();
  CHECK(store.count_pending(new_url) == 200);
  // Marked delivered just after the publish that the recorder saw.
  CHECK(wait_until([&] { return store.count_pending(old_url) == 0; }));
  CHECK(wait_until([&] { return store.count_pending() == 0; }));  // the invoices went through the routed bus

  new_bus.heal();
  REQUIRE(bus->flush(std::chrono::seconds(60)));
  REQUIRE(wait_until([&] { return got_new.distinct() == 200; }, std::chrono::seconds(30)));
  CHECK(got_new.seen.size() == 200);
  CHECK(in_order_per_key(got_new));
  CHECK(got_old.seen.size() == 210);  // nothing replayed to the old target
  for (const auto& t : store.target_status()) {
    INFO(t.target);
    CHECK(t.status.pending == 0);
    CHECK(t.status.delivered == 200);
  }
}

TEST_CASE("deliveries left pending on a target by a dual route still go out after the route is cut over",
          "[outbox][targets][config][routes]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  Switchboard& board = Switchboard::get();
  const std::string old_name = unique_name("old"), new_name = unique_name("new");
  const std::string old_url = "switch://" + old_name, new_url = "switch://" + new_name;
  {
    // Dual publish while the old target is down: its deliveries wait.
    nlohmann::json dual = {{"routes", {{{"match", "#"}, {"publish", {old_url, new_url}}}}}, {"outbox", scratch.url()}};
    auto bus = make_bus(BusConfig::from_json(dual));
    board[old_name].go_down();
    OrderRecorder got_new{board[new_name]};
    for (int n = 0; n < 20; ++n) bus->publish(order_event("order.updated", std::to_string(n % 3), n));
    REQUIRE(wait_until([&] { return got_new.distinct() == 20; }, std::chrono::seconds(30)));
    CHECK(dynamic_cast<OutboxBus&>(*bus).store().count_pending(old_url) == 20);
  }
  // Cut over: published to the new target only, consumers still read the old.
  nlohmann::json cut = {{"routes", {{{"match", "#"}, {"publish", {new_url}}, {"subscribe", {old_url, new_url}}}}},
                        {"outbox", scratch.url()}};
  board.make_down(old_name);  // until its recorder is on
  auto bus = make_bus(BusConfig::from_json(cut));
  auto& outbox = dynamic_cast<OutboxBus&>(*bus);
  CHECK(outbox.targets() == std::vector<std::string>{old_url});
  OrderRecorder got_old{board[old_name]};
  board[old_name].heal();
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  REQUIRE(wait_until([&] { return got_old.distinct() == 20; }, std::chrono::seconds(30)));
  CHECK(got_old.seen.size() == 20);
  CHECK(in_order_per_key(got_old));
  CHECK(outbox.store().count_pending(old_url) == 0);
}

TEST_CASE("a database of the schema before per-target deliveries is upgraded in place and keeps working",
          "[outbox][targets][schema]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  TestClock clock;
  FailingBus a;
  OrderRecorder got{a};
  Envelope old_event = order_event("order.created", "1", 0);
  {
    auto store = scratch.open();
    store->append(old_event);
  }
  {
    // Schema version 3 only added herald_deliveries (and PostgreSQL's 4
    // herald_claims, 6 herald_pending, herald_delivered and their triggers,
    // in place of the pending index): without them, and with the version set back, the
    // database is what version 2 made.
    auto app = scratch.connect();
    app->exec("DROP TABLE herald_deliveries");
    if (kind == "postgres") {
      app->exec("DROP TABLE herald_claims");
      app->exec("DROP TABLE herald_pending");
      app->exec("DROP TABLE herald_delivered");
      app->exec("DROP FUNCTION herald_keep_pending() CASCADE");
      app->exec("CREATE INDEX herald_events_pending ON herald_events(position) WHERE delivered_at IS NULL AND NOT dead_letter");
    }
    app->exec("UPDATE herald_meta SET value = '2' WHERE key = 'schema_version'");
    CHECK(app->scalar("SELECT CAST(value AS INTEGER) FROM herald_meta WHERE key = 'schema_version'") == 2);
  }
  auto store = scratch.open();
  auto app = scratch.connect();
  CHECK(app->scalar("SELECT CAST(value AS INTEGER) FROM herald_meta WHERE key = 'schema_version'") ==
        (kind == "postgres" ? 6 : 3));
  CHECK(store->get(old_event.id).pending());
  CHECK(store->delivery_targets().empty());
  std::vector<Envelope> dual{order_event("order.updated", "1", 1)};
  store->append(dual, dual_order_targets());
  CHECK(relay_pass(*store, a, target_relay("", clock)).delivered == 1);
  CHECK(relay_pass(*store, a, target_relay("a", clock)).delivered == 1);
  CHECK(got.by_order()["1"] == std::vector<int>{0, 1});
  CHECK(store->count_pending("b") == 1);
}

#ifdef HERALD_TEST_WITH_POSTGRES
TEST_CASE("a PostgreSQL outbox of schema 5 keeps each row's delivery state through the upgrade to 6",
          "[outbox][targets][schema]") {
  ScratchStore scratch("postgres");
  TestClock clock;
  std::vector<Envelope> events;
  for (int n = 0; n < 6; ++n) events.push_back(order_event("order.updated", "k" + std::to_string(n), n));
  std::vector<Envelope> dual{order_event("order.updated", "d", 6)};
  {
    auto store = scratch.open();
    auto positions = store->append(events);
    store->mark_delivered({positions[0], positions[1]}, clock.now());
    store->mark_failed({DeliveryFailure{.position = positions[2], .error = "later", .next_attempt_at = clock.now() + seconds(30)}});
    store->mark_failed({DeliveryFailure{.position = positions[3], .error = "gave up", .next_attempt_at = clock.now(), .dead = true}});
    store->append(dual, dual_order_targets());
    FailingBus a;
    CHECK(relay_pass(*store, a, target_relay("a", clock)).delivered == 1);
  }
  {
    // Schema 5 kept what is delivered in the rows alone, found pending rows
    // through partial indexes, and had neither herald_pending,
    // herald_delivered nor the triggers.
    auto app = scratch.connect();
    app->exec("UPDATE herald_events SET delivered_at = now() WHERE delivered_at IS NULL AND position NOT IN "
              "(SELECT position FROM herald_pending WHERE target = '')");
    app->exec("UPDATE herald_deliveries d SET delivered_at = now() WHERE delivered_at IS NULL AND NOT EXISTS "
              "(SELECT 1 FROM herald_pending p WHERE p.target = d.target AND p.position = d.position)");
    app->exec("DROP TABLE herald_pending");
    app->exec("DROP TABLE herald_delivered");
    app->exec("DROP FUNCTION herald_keep_pending() CASCADE");  // and its triggers
    app->exec("CREATE INDEX herald_events_pending ON herald_events(position) WHERE delivered_at IS NULL AND NOT dead_letter");
    app->exec("CREATE INDEX herald_deliveries_pending ON herald_deliveries(target, position) "
              "WHERE delivered_at IS NULL AND NOT dead_letter");
    app->exec("UPDATE herald_meta SET value = '5' WHERE key = 'schema_version'");
  }
  auto store = scratch.open();
  auto app = scratch.connect();
  CHECK(app->scalar("SELECT CAST(value AS INTEGER) FROM herald_meta WHERE key = 'schema_version'") == 6);
  CHECK(app->scalar("SELECT count(*) FROM herald_pending") == 5);  // 2, 3 (dead), 4, 5; the dual event for "b"
  auto st = store->status();
  CHECK(st.delivered == 3);  // 0, 1 and the dual event's own row, handed to its targets
  CHECK(st.pending == 3);
  CHECK(st.retrying == 1);
  CHECK(st.dead == 1);
  CHECK(store->get(events[0].id).delivered_at);
  CHECK(store->count_pending("a") == 0);
  CHECK(store->count_pending("b") == 1);

  FailingBus bus, b;
  OrderRecorder got{bus};
  CHECK(relay_pass(*store, bus, target_relay("", clock)).delivered == 2);  // 4, 5: 2 waits for its retry
  clock.advance(std::chrono::milliseconds(31000));
  CHECK(relay_pass(*store, bus, target_relay("", clock)).delivered == 1);
  CHECK(relay_pass(*store, b, target_relay("b", clock)).delivered == 1);
  st = store->status();
  CHECK(st.delivered == 6);
  CHECK(st.pending == 0);
  CHECK(st.dead == 1);
  CHECK(store->get(events[2].id).delivered_at);
  CHECK(store->get(events[2].id).delivery_attempts == 1);
  CHECK(store->get(events[4].id).delivered_at);
  CHECK(store->get(events[3].id).dead_letter);
  CHECK(store->count_pending("b") == 0);
}

TEST_CASE("a PostgreSQL row marked delivered in place, as a relay of schema 5 marks it, is not delivered again",
          "[outbox][targets][schema]") {
  // During an upgrade a relay of the earlier version may still run: it marks
  // rows by setting delivered_at (and appends, as this version does, with a
  // plain INSERT). The triggers keep herald_pending in step with both.
  ScratchStore scratch("postgres");
  TestClock clock;
  std::vector<Envelope> events;
  for (int n = 0; n < 3; ++n) events.push_back(order_event("order.updated", "k" + std::to_string(n), n));
  std::vector<Envelope> dual{order_event("order.updated", "d", 3)};
  auto store = scratch.open();
  auto positions = store->append(events);
  store->append(dual, dual_order_targets());
  auto app = scratch.connect();
  app->exec("UPDATE herald_events SET delivered_at = now() WHERE position = " + std::to_string(positions[1]));
  app->exec("UPDATE herald_deliveries SET delivered_at = now() WHERE target = 'a'");
  CHECK(store->count_pending() == 2);
  CHECK(store->count_pending("a") == 0);
  CHECK(store->count_pending("b") == 1);
  CHECK(store->get(events[1].id).delivered_at);
  FailingBus bus;
  OrderRecorder got{bus};
  CHECK(relay_pass(*store, bus, target_relay("", clock)).delivered == 2);
  CHECK(relay_pass(*store, bus, target_relay("a", clock)).delivered == 0);
  CHECK(got.by_order()["k1"].empty());
  CHECK(store->status().delivered == 4);
}
#endif
