// The relay: order per aggregate, batches, backoff, dead letters, leases.

#include <catch2/catch.hpp>

#include <map>
#include <mutex>

#include "flaky_store.hpp"
#include "log_capture.hpp"
#include "herald/config.hpp"
#include "herald/relay.hpp"
#include "herald/replay.hpp"
#include "relay_fixture.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("the relay delivers pending events in batches, in order per aggregate, and marks them", "[relay]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 250; ++n) events.push_back(order_event("order.updated", std::to_string(n % 7), n));
  f.store->append(events);

  auto stats = relay_pass(*f.store, f.bus, f.options());
  CHECK(stats.delivered == 250);
  CHECK(stats.publish_calls == 3);  // batches of 100
  CHECK(f.recorder.seen.size() == 250);
  for (const auto& [order, ns] : f.recorder.by_order()) {
    INFO("order " << order);
    CHECK(std::is_sorted(ns.begin(), ns.end()));
  }
  auto st = f.store->status();
  CHECK(st.pending == 0);
  CHECK(st.delivered == 250);
  CHECK(f.store->find(events[0].id)->delivered_at);
  CHECK(relay_pass(*f.store, f.bus, f.options()).delivered == 0);  // nothing twice
}

TEST_CASE("a failing row blocks later rows of its aggregate and backs off exponentially", "[relay][retry]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 6; ++n) events.push_back(order_event("order.updated", n % 2 ? "odd" : "even", n));
  f.store->append(events);
  const std::string poison = events[2].id;  // "even", n = 2
  f.bus.refuse([&](const Envelope& e) -> std::optional<std::string> {
    if (e.id == poison) return "refused: order 2 is poison";
    return std::nullopt;
  });

  auto options = f.options();
  auto stats = relay_pass(*f.store, f.bus, options);
  CHECK(stats.failed == 1);
  // even: 0 delivered, 2 failed, 4 held back; odd: all delivered.
  CHECK(f.recorder.by_order()["even"] == std::vector<int>{0});
  CHECK(f.recorder.by_order()["odd"] == std::vector<int>{1, 3, 5});
  auto row = f.store->get(poison);
  CHECK(row.delivery_attempts == 1);
  CHECK(row.last_error == "refused: order 2 is poison");
  REQUIRE(row.next_attempt_at);
  CHECK(*row.next_attempt_at - f.clock.now() == seconds(1));
  CHECK(f.store->get(events[4].id).pending());

  // Not due yet: nothing happens.
  f.clock.advance(milliseconds(500));
  CHECK(relay_pass(*f.store, f.bus, options).claimed == 0);
  // Due: fails again, the next wait doubles.
  f.clock.advance(milliseconds(500));
  CHECK(relay_pass(*f.store, f.bus, options).failed == 1);
  row = f.store->get(poison);
  CHECK(row.delivery_attempts == 2);
  CHECK(*row.next_attempt_at - f.clock.now() == seconds(2));
  f.clock.advance(seconds(2));
  relay_pass(*f.store, f.bus, options);
  row = f.store->get(poison);
  CHECK(row.delivery_attempts == 3);
  CHECK(*row.next_attempt_at - f.clock.now() == seconds(4));

  // The broker accepts it again: the aggregate resumes in order.
  f.bus.heal();
  f.clock.advance(seconds(4));
  CHECK(relay_pass(*f.store, f.bus, options).delivered == 2);
  CHECK(f.recorder.by_order()["even"] == std::vector<int>{0, 2, 4});
  CHECK(f.store->status().pending == 0);
}

TEST_CASE("a row is dead-lettered after the maximum attempts, holds back its aggregate, and can be retried",
          "[relay][dead-letter]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events{order_event("order.created", "1", 0), order_event("order.paid", "1", 1),
                               order_event("order.paid", "2", 2)};
  f.store->append(events);
  f.refuse_type("order.created", "schema registry says no");

  auto options = f.options(3);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto stats = relay_pass(*f.store, f.bus, options);
    CHECK(stats.failed == 1);
    CHECK(stats.dead_lettered == (attempt == 3 ? 1u : 0u));
    f.clock.advance(seconds(10));
  }
  auto row = f.store->get(events[0].id);
  CHECK(row.dead_letter);
  CHECK(row.delivery_attempts == 3);
  CHECK(row.last_error == "schema registry says no");
  CHECK_FALSE(row.pending());
  auto st = f.store->status();
  CHECK(st.dead == 1);
  auto backlog = f.store->backlog();
  CHECK(backlog.dead == 1);
  CHECK(backlog.pending == 1);  // order 1's order.paid, held back behind the dead row
  CHECK(backlog.delivered == 0);  // not counted there
  CHECK(backlog.last_position == st.last_position);
  CHECK(f.bus.metrics().prometheus().find("group=\"outbox\"") != std::string::npos);

  // A dead row keeps holding back its aggregate: order.paid must not overtake it.
  CHECK(relay_pass(*f.store, f.bus, options).delivered == 0);
  CHECK(f.store->get(events[1].id).pending());
  CHECK(f.recorder.by_order()["1"].empty());
  CHECK(f.recorder.by_order()["2"] == std::vector<int>{2});  // other aggregates are not held

  auto dead = f.store->dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].event.id == events[0].id);
  CHECK_THROWS_AS(f.store->replay_dead_letters(std::string("unknown-id")), NotFoundError);
  f.bus.heal();
  CHECK(f.store->replay_dead_letters(events[0].id) == 1);
  CHECK(f.store->get(events[0].id).delivery_attempts == 0);
  CHECK(relay_pass(*f.store, f.bus, options).delivered == 2);
  CHECK(f.recorder.by_order()["1"] == std::vector<int>{0, 1});
  CHECK(f.store->status().dead == 0);
  CHECK(f.store->status().pending == 0);
}

// SQLite only: PostgreSQL's relays claim one batch at a time (with rows in
// flight its claim read them all again, and its batches got slower).
TEST_CASE("a claim passes over the claimer's rows in flight", "[relay][claim]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  REQUIRE(f.store->claims_past_in_flight());
  std::vector<Envelope> events;
  for (int n = 0; n < 6; ++n) events.push_back(order_event("order.updated", "7", n));
  f.store->append(events);
  LeaseRequest request{.now = f.clock.now(), .owner = "test-relay", .limit = 3};
  auto first = f.store->claim(request);
  REQUIRE(first.size() == 3);
  // Asked again without them, the same rows come back: the owner's own
  // batch is not held from it.
  CHECK(f.store->claim(request).front().event.id == events[0].id);
  request.in_flight = {first[0].position, first[1].position, first[2].position};
  auto second = f.store->claim(request);
  REQUIRE(second.size() == 3);
  CHECK(second[0].event.id == events[3].id);
  CHECK(second[2].event.id == events[5].id);
}

TEST_CASE("marking scattered positions delivered marks those and no row between them", "[relay][claim]") {
  // SQLite marks a run of consecutive positions with one range: the runs
  // must cover the batch and nothing else, in any order given.
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 8; ++n) events.push_back(order_event("order.updated", "k" + std::to_string(n), n));
  auto positions = f.store->append(events);
  REQUIRE(positions.size() == 8);
  f.store->mark_delivered({positions[6], positions[0], positions[1], positions[3], positions[7], positions[1]},
                          f.clock.now());
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const bool marked = i == 0 || i == 1 || i == 3 || i == 6 || i == 7;
    INFO("row " << i);
    CHECK(f.store->get(events[i].id).pending() == !marked);
  }
  CHECK(f.store->count_pending() == 3);
}

TEST_CASE("a large batch's mark marks every row of it and no other", "[relay][claim]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 1200; ++n) events.push_back(order_event("order.updated", "k" + std::to_string(n % 50), n));
  auto positions = f.store->append(events);
  REQUIRE(positions.size() == 1200);
  // Every third row is left out and the rest are given last to first: no
  // part of the list is a run of consecutive positions (SQLite marks runs).
  std::vector<std::int64_t> marked;
  for (std::size_t i = positions.size(); i-- > 0;)
    if (i % 3 != 1) marked.push_back(positions[i]);
  f.store->mark_delivered(marked, f.clock.now());
  CHECK(f.store->count_pending() == 400);
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{598}, std::size_t{599},
                        std::size_t{600}, std::size_t{601}, std::size_t{1198}, std::size_t{1199}}) {
    INFO("row " << i);
    CHECK(f.store->get(events[i].id).pending() == (i % 3 == 1));
  }
  // Marked again (the relay retries a mark that failed): nothing changes.
  f.store->mark_delivered(marked, f.clock.now());
  CHECK(f.store->count_pending() == 400);
}

TEST_CASE("a delivered row's time is its mark's, whether or not it failed first, in every read of it",
          "[relay][mark]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events{order_event("order.updated", "a", 0), order_event("order.updated", "b", 1),
                               order_event("order.updated", "c", 2)};
  auto positions = f.store->append(events);
  f.store->mark_failed({DeliveryFailure{.position = positions[1], .error = "refused", .next_attempt_at = f.clock.now()}});
  const Timestamp first = f.clock.now();
  f.store->mark_delivered({positions[0]}, first);
  f.clock.advance(milliseconds(5000));
  const Timestamp second = f.clock.now();
  f.store->mark_delivered({positions[1]}, second);
  f.store->mark_delivered({positions[0], positions[1]}, f.clock.now() + seconds(1));  // again: no change
  CHECK(f.store->get(events[0].id).delivered_at == first);
  CHECK(f.store->get(events[1].id).delivered_at == second);
  CHECK(f.store->get(events[1].id).delivery_attempts == 1);
  CHECK_FALSE(f.store->get(events[2].id).delivered_at);
  auto page = f.store->timeline("order", "b", "", 10);
  REQUIRE(page.events.size() == 1);
  CHECK(page.events[0].delivered_at == second);
  auto st = f.store->status();
  CHECK(st.delivered == 2);
  CHECK(st.pending == 1);
  CHECK(st.retrying == 0);
}

TEST_CASE("a batch one relay claimed is not claimed by another, and holds back its keys, until its lease runs out or "
          "its relay stands down",
          "[relay][claim][lease]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 4; ++n) events.push_back(order_event("order.updated", "7", n));
  for (int n = 0; n < 2; ++n) events.push_back(order_event("order.updated", "8", n));
  f.store->append(events);
  LeaseRequest a{.now = f.clock.now(), .lease = seconds(30), .owner = "relay-a", .limit = 2};
  auto held = f.store->claim(a);
  REQUIRE(held.size() == 2);
  CHECK(held[0].event.id == events[0].id);
  LeaseRequest b{.now = f.clock.now(), .lease = seconds(30), .owner = "relay-b", .limit = 10};
  auto others = f.store->claim(b);
  if (f.kind == "sqlite") {
    CHECK(others.empty());  // one relay at a time holds a SQLite store
  } else {
    // Relays share a PostgreSQL store: order 7's later rows wait behind the
    // batch relay-a holds, order 8 is free.
    REQUIRE(others.size() == 2);
    CHECK(others[0].event.id == events[4].id);
    CHECK(others[1].event.id == events[5].id);
    f.store->release({others[0].position, others[1].position}, "relay-b");
  }
  // relay-a stops renewing: its batch goes to the next claim once the
  // lease has run out.
  f.clock.advance(seconds(31));
  b.now = f.clock.now();
  auto after = f.store->claim(b);
  REQUIRE(after.size() == 6);
  CHECK(after[0].event.id == events[0].id);
  // relay-b stands down (a relay that stops): its batch is free at once.
  f.store->stand_down("relay-b");
  a.now = f.clock.now();
  a.limit = 10;
  CHECK(f.store->claim(a).size() == 6);
}

TEST_CASE("a key that fails in one batch has none of its later rows published from the batch claimed meanwhile",
          "[relay][retry]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 40; ++n) events.push_back(order_event("order.updated", n % 2 ? "b" : "a", n));
  f.store->append(events);
  const std::string poison = events[4].id;  // "a", n = 4, in the first batch
  f.bus.refuse([&](const Envelope& e) -> std::optional<std::string> {
    if (e.id == poison) return "refused: order 4 is poison";
    return std::nullopt;
  });
  auto options = f.options();
  options.batch_size = 10;  // the second batch, claimed while the first is out, has a's 10..18
  auto stats = relay_pass(*f.store, f.bus, options);
  CHECK(stats.failed == 1);
  CHECK(f.recorder.by_order()["a"] == std::vector<int>{0, 2});
  std::vector<int> b;
  for (int n = 1; n < 40; n += 2) b.push_back(n);
  CHECK(f.recorder.by_order()["b"] == b);
  // The rows passed over keep their attempts and wait behind the failed one.
  CHECK(f.store->get(events[10].id).delivery_attempts == 0);
  CHECK(f.store->get(events[10].id).pending());

  f.bus.heal();
  f.clock.advance(seconds(1));
  relay_pass(*f.store, f.bus, options);
  std::vector<int> a;
  for (int n = 0; n < 40; n += 2) a.push_back(n);
  CHECK(f.recorder.by_order()["a"] == a);
  CHECK(f.recorder.distinct() == 40);
  CHECK(f.store->status().pending == 0);
}

TEST_CASE("a key that fails in one batch has none of its later rows published from a batch claimed before the failure "
          "was recorded",
          "[relay][retry]") {
  // Batch 1's outcome is recorded while batch 3 is claimed (and batch 2
  // published). The store here holds batch 1's failure back until batch 3
  // is claimed, so the claim cannot have seen it.
  RelayFixture f(GENERATE(from_range(store_kinds())));
  FlakyMarkStore store(f.store, 0);
  REQUIRE(store.claims_past_in_flight());
  store.before_mark_failed = [&] { wait_until([&] { return store.claims() >= 3; }, seconds(10)); };
  std::vector<Envelope> events;
  for (int n = 0; n < 30; ++n) {
    bool c = n == 4 || n == 20 || n == 25;  // order c: in batches 1 and 3, not 2
    events.push_back(order_event("order.updated", c ? "c" : "k" + std::to_string(n), n));
  }
  f.store->append(events);
  f.bus.refuse([poison = events[4].id](const Envelope& e) -> std::optional<std::string> {
    if (e.id == poison) return "refused: order c's first row is poison";
    return std::nullopt;
  });
  auto options = f.options();
  options.batch_size = 10;
  auto stats = relay_pass(store, f.bus, options);
  CHECK(store.claims() >= 3);
  CHECK(stats.failed == 1);
  CHECK(f.recorder.by_order().count("c") == 0);
  CHECK(f.recorder.distinct() == 27);
  CHECK(f.store->get(events[20].id).pending());
  CHECK(f.store->get(events[20].id).delivery_attempts == 0);

  f.bus.heal();
  f.clock.advance(seconds(1));
  relay_pass(store, f.bus, options);
  CHECK(f.recorder.by_order()["c"] == std::vector<int>{4, 20, 25});
  CHECK(f.recorder.distinct() == 30);
}

TEST_CASE("a transport outage spends no row's attempts: no row goes dead and every aggregate resumes in order",
          "[relay][retry][outage]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 30; ++n) events.push_back(order_event("order.updated", "o" + std::to_string(n % 3), n));
  f.store->append(events);
  f.bus.go_down();

  auto options = f.options(3);
  // Far more passes than max_attempts, each after any backoff has run out.
  for (int pass = 0; pass < 10; ++pass) {
    auto stats = relay_pass(*f.store, f.bus, options);
    CHECK(stats.delivered == 0);
    CHECK(stats.failed == 0);
    CHECK(stats.publish_calls <= 3);  // the batch, then two single rows tell the transport is down
    f.clock.advance(std::chrono::minutes(10));
  }
  auto st = f.store->status();
  CHECK(st.dead == 0);
  CHECK(st.pending == 30);
  for (int n = 0; n < 3; ++n) {
    auto head = f.store->get(events[static_cast<std::size_t>(n)].id);
    CHECK(head.delivery_attempts == 0);
    CHECK_FALSE(head.dead_letter);
  }

  f.bus.heal();
  CHECK(relay_pass(*f.store, f.bus, options).delivered == 30);
  auto by_order = f.recorder.by_order();
  for (int o = 0; o < 3; ++o) {
    std::vector<int> expected;
    for (int n = o; n < 30; n += 3) expected.push_back(n);
    CHECK(by_order["o" + std::to_string(o)] == expected);
  }
  CHECK(f.recorder.seen.size() == 30);  // the broker accepted nothing while down: no duplicates
}

TEST_CASE("a skipped dead row stops holding back its aggregate, leaves the dead list and is never delivered",
          "[relay][dead-letter]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events{order_event("order.created", "1", 0), order_event("order.paid", "1", 1),
                               order_event("order.shipped", "1", 2)};
  f.store->append(events);
  f.refuse_type("order.created", "schema registry says no");
  auto options = f.options(1);
  CHECK(relay_pass(*f.store, f.bus, options).dead_lettered == 1);
  CHECK(relay_pass(*f.store, f.bus, options).delivered == 0);

  CHECK_THROWS_AS(f.store->skip_dead_letter(events[1].id), NotFoundError);  // pending, not dead
  f.store->skip_dead_letter(events[0].id);
  CHECK_THROWS_AS(f.store->skip_dead_letter(events[0].id), NotFoundError);  // once
  auto skipped = f.store->get(events[0].id);
  CHECK(skipped.skipped_at);
  CHECK_FALSE(skipped.delivered_at);
  CHECK(skipped.to_json()["skipped_at"].is_string());
  CHECK(f.store->dead_letters().empty());
  CHECK(f.store->status().dead == 0);
  CHECK_THROWS_AS(f.store->replay_dead_letters(events[0].id), NotFoundError);
  CHECK(f.store->replay_dead_letters() == 0);

  CHECK(relay_pass(*f.store, f.bus, options).delivered == 2);
  CHECK(f.recorder.by_order()["1"] == std::vector<int>{1, 2});
  CHECK(f.store->status().pending == 0);
  CHECK_FALSE(f.store->get(events[0].id).delivered_at);
}

TEST_CASE("a retriable failure of one row is that row's own when the next row gets through", "[relay][retry]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  std::vector<Envelope> events;
  for (int n = 0; n < 6; ++n) events.push_back(order_event("order.updated", n % 2 ? "odd" : "even", n));
  f.store->append(events);
  const std::string poison = events[0].id;
  f.bus.refuse([&](const Envelope& e) -> std::optional<std::string> {
    if (e.id == poison) return "nack (test)";
    return std::nullopt;
  }, true);

  auto options = f.options(2);
  auto stats = relay_pass(*f.store, f.bus, options);
  CHECK(stats.transport_failures == 0);
  CHECK(stats.failed == 1);
  CHECK(f.store->get(poison).delivery_attempts == 1);
  CHECK(f.recorder.by_order()["odd"] == std::vector<int>{1, 3, 5});
  f.clock.advance(seconds(10));
  // Alone now: nothing tells the row's failure from an outage, so it is not charged.
  stats = relay_pass(*f.store, f.bus, options);
  CHECK(stats.transport_failures == 1);
  CHECK(stats.transport_error == "nack (test)");
  CHECK(f.store->get(poison).delivery_attempts == 1);
  // A row of another aggregate tells it apart: the poison row is charged and goes dead.
  f.store->append(order_event("order.updated", "other", 100));
  stats = relay_pass(*f.store, f.bus, options);
  CHECK(stats.dead_lettered == 1);
  CHECK(f.store->get(poison).dead_letter);
  CHECK(f.recorder.by_order()["other"] == std::vector<int>{100});
  CHECK(f.recorder.by_order()["even"].empty());  // held back behind the dead row
}

TEST_CASE("a store that fails to mark a published batch delivered gets the mark retried, the events are not republished",
          "[relay][store-error]") {
  RelayFixture f(GENERATE(from_range(store_kinds())));
  FlakyMarkStore flaky(f.store, 3);
  std::vector<Envelope> events;
  for (int n = 0; n < 50; ++n) events.push_back(order_event("order.updated", std::to_string(n % 5), n));
  f.store->append(events);

  RelayStats stats;
  CHECK_NOTHROW(stats = relay_pass(flaky, f.bus, f.options()));
  CHECK(flaky.mark_failures() == 3);
  CHECK(f.bus.publish_calls() == 1);
  CHECK(f.recorder.seen.size() == 50);  // each event published exactly once
  CHECK(f.recorder.distinct() == 50);
  CHECK(f.store->status().delivered == 50);
  CHECK(relay_pass(flaky, f.bus, f.options()).claimed == 0);
}

TEST_CASE("a relay running in the application delivers what is appended and stops in its destructor", "[relay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  auto bus = make_bus("memory://");
  Recorder<std::string> seen;
  auto sub = bus->subscribe({.pattern = "#", .group = "g"}, [&](const Envelope& e) { seen.add(e.id); });
  {
    RelayOptions options;
    options.interval = milliseconds(10);
    Relay relay(*store, *bus, options);
    for (int n = 0; n < 30; ++n) store->append(order_event("order.updated", "a", n));
    CHECK(seen.wait_for(30, seconds(30)));
    CHECK(wait_until([&] { return relay.stats().delivered == 30; }, seconds(30)));
  }
  CHECK(store->count_pending() == 0);
}

TEST_CASE("a relay that stopped does not hold back the next one on its store until its lease runs out",
          "[relay][lease]") {
  // A restart or a rolling deploy: one relay stops, the next starts on the
  // same store. On SQLite one relay at a time holds the store; the one that
  // stopped hands it over instead of leaving the next waiting for its lease.
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  auto bus = make_bus("memory://");
  Recorder<std::string> seen;
  auto sub = bus->subscribe({.pattern = "#", .group = "g"}, [&](const Envelope& e) { seen.add(e.id); });
  RelayOptions options;
  options.interval = milliseconds(10);
  options.lease = seconds(120);
  {
    options.owner = "relay-before";
    Relay before(*store, *bus, options);
    store->append(order_event("order.updated", "a", 0));
    REQUIRE(seen.wait_for(1, seconds(30)));
  }
  options.owner = "relay-after";
  Relay after(*store, *bus, options);
  store->append(order_event("order.updated", "a", 1));
  CHECK(seen.wait_for(2, seconds(30)));  // a quarter of the lease
}

TEST_CASE("two relays on one store deliver every event once and keep each aggregate in order", "[relay][lease]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto writer = scratch.open();
  auto bus = make_bus("memory://?dispatch=inline");
  std::mutex mutex;
  std::map<std::string, int> times;
  std::map<std::string, std::vector<int>> order;
  bool out_of_order = false;
  auto sub = bus->subscribe({.pattern = "#", .group = "g"}, [&](const Envelope& e) {
    std::lock_guard lock(mutex);
    ++times[e.id];
    auto& seq = order[e.aggregateid];
    int n = e.payload().at("n").get<int>();
    if (!seq.empty() && seq.back() > n) out_of_order = true;
    seq.push_back(n);
  });
  {
    auto store_a = scratch.open();
    auto store_b = scratch.open();
    RelayOptions options;
    options.interval = milliseconds(5);
    options.batch_size = 50;
    options.owner = "relay-a";
    Relay a(*store_a, *bus, options);
    options.owner = "relay-b";
    Relay b(*store_b, *bus, options);
    for (int round = 0; round < 20; ++round) {
      std::vector<Envelope> batch;
      for (int i = 0; i < 100; ++i) {
        int n = round * 100 + i;
        batch.push_back(order_event("order.updated", std::to_string(n % 13), n));
      }
      writer->append(batch);
    }
    REQUIRE(wait_until([&] { return writer->count_pending() == 0; }, seconds(60)));
    // A relay's stats count a pass once it ends, a moment after its last mark.
    auto delivered = [&] { return a.stats().delivered + b.stats().delivered; };
    wait_until([&] { return delivered() >= 2000; }, seconds(10));
    INFO("relay a delivered " << a.stats().delivered << ", relay b " << b.stats().delivered);
    CHECK(delivered() == 2000);
  }
  std::lock_guard lock(mutex);
  CHECK(times.size() == 2000);
  CHECK(std::all_of(times.begin(), times.end(), [](const auto& kv) { return kv.second == 1; }));
  CHECK_FALSE(out_of_order);
}

TEST_CASE("replay republishes stored events by range, type pattern and aggregate, with progress", "[replay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  std::vector<Envelope> events;
  for (int n = 1; n <= 40; ++n)
    events.push_back(order_event(n % 4 == 0 ? "payment.failed" : "order.updated", std::to_string(n % 2), n));
  store->append(events);
  auto bus = make_bus("memory://?dispatch=inline");
  OrderRecorder recorder(*bus);

  std::vector<ReplayProgress> progress;
  ReplayOptions options;
  options.filter = {.from_position = 10, .to_position = 30, .type_pattern = "order.*"};
  options.batch_size = 4;
  options.on_progress = [&](const ReplayProgress& p) { progress.push_back(p); };
  auto n = replay(*store, *bus, options);
  std::vector<int> expected;
  for (int i = 10; i <= 30; ++i)
    if (i % 4 != 0) expected.push_back(i);
  CHECK(n == expected.size());
  std::vector<int> got;
  for (const auto& [id, v] : recorder.seen.items()) got.push_back(v);
  CHECK(got == expected);
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back().position == 30);
  CHECK(progress.back().published == expected.size());
  CHECK(progress.back().last_position == 30);

  Recorder<std::string> ids;
  auto sub = bus->subscribe({.pattern = "payment.failed", .group = "audit"}, [&](const Envelope& e) { ids.add(e.id); });
  ReplayOptions by_aggregate;
  by_aggregate.filter = {.type_pattern = "payment.#", .aggregate_type = "order", .aggregate_id = "0"};
  CHECK(replay(*store, *bus, by_aggregate) == 10);
  CHECK(ids.items().front() == events[3].id);  // same ids as stored
  // Replay does not touch delivery state.
  CHECK(store->status().pending == 40);
}

TEST_CASE("a running relay logs a transport outage through herald's log hook", "[relay][log]") {
  LogCapture capture;
  RelayFixture f(store_kinds().front());
  f.store->append(order_event("order.updated", "o1", 1));
  f.bus.go_down();
  RelayOptions options = f.options(3);
  options.interval = milliseconds(10);
  Relay relay(*f.store, f.bus, options);
  REQUIRE(wait_until([&] { return !capture.matching("herald.relay", "transport down").empty(); }));
  CHECK(capture.matching("herald.relay", "transport down").front().level == LogLevel::warn);
}
