// herald::Bridge on memory buses: what it forwards, how it keeps events as
// they are, and how it never loops.

#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "failing_bus.hpp"
#include "herald/bridge.hpp"
#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "sample_event.hpp"
#include "test_options.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

BridgeOptions options(const std::string& name, const std::string& from, const std::string& to) {
  return {.pattern = "#", .group = name, .name = name, .from_label = from, .to_label = to};
}

// Every event `bus` carries, as a group of its own reads it.
struct Tap {
  Recorder<Envelope> seen;
  Subscription sub;
  explicit Tap(EventBus& bus, const std::string& pattern = "#")
      : sub(bus.subscribe({.pattern = pattern, .group = "tap"}, [this](const Envelope& e) { seen.add(e); })) {}
};

Envelope without_via(Envelope e) {
  e.extensions.erase(std::string(bridge_via_attribute));
  return e;
}

std::string via_of(const Envelope& e) {
  auto it = e.extensions.find(std::string(bridge_via_attribute));
  return it == e.extensions.end() ? "" : it->second.get<std::string>();
}

}  // namespace

TEST_CASE("a bridged event keeps its id and every attribute, and only heraldvia is added", "[bridge]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  Tap on_b(*b);
  Bridge bridge(*a, *b, options("ab", "mem-a", "mem-b"));

  Envelope full = every_attribute_event();
  // No correlation, causation or trace: the bus would stamp the handled
  // event's own ids into them if the forward were published as a new event
  // caused by the bridge's handler.
  Envelope bare = Envelope::make("order.paid", {{"order_id", "42"}}, "svc/orders");
  bare.partitionkey = "42";
  a->publish(full);
  a->publish(bare);

  REQUIRE(on_b.seen.wait_for(2));
  auto got = on_b.seen.items();
  REQUIRE(got.size() == 2);
  CHECK(without_via(got[0]) == full);
  CHECK(without_via(got[1]) == bare);
  CHECK(got[1].correlationid.empty());
  CHECK(got[1].causationid.empty());
  CHECK(via_of(got[0]) == "mem-a ab>mem-b");
  CHECK(bridge.counts().forwarded == 2);
}

TEST_CASE("a bridge keeps the order of each partition key", "[bridge]") {
  auto a = make_bus("memory://?workers=4");
  auto b = make_bus("memory://?workers=4");
  Recorder<std::pair<std::string, int>> seen;
  auto sub = b->subscribe({.pattern = "#", .group = "reader"},
                          [&](const Envelope& e) { seen.add({e.partitionkey, e.payload().at("n").get<int>()}); });
  auto opts = options("ab", "mem-a", "mem-b");
  opts.concurrency = 4;
  Bridge bridge(*a, *b, opts);

  constexpr int keys = 8, per_key = 60;
  for (int n = 0; n < per_key; ++n)
    for (int k = 0; k < keys; ++k) {
      Envelope e = Envelope::make("order.updated", {{"n", n}});
      e.partitionkey = "order-" + std::to_string(k);
      a->publish(std::move(e));
    }
  REQUIRE(seen.wait_for(keys * per_key));
  std::map<std::string, int> last;
  for (const auto& [key, n] : seen.items()) {
    auto it = last.find(key);
    if (it != last.end()) CHECK(n == it->second + 1);
    else CHECK(n == 0);
    last[key] = n;
  }
  CHECK(last.size() == static_cast<std::size_t>(keys));
}

TEST_CASE("a pair of bridges A→B and B→A carries each event once and never back", "[bridge][loop]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  Tap on_a(*a), on_b(*b);
  Bridge ab(*a, *b, options("ab", "mem-a", "mem-b"));
  Bridge ba(*b, *a, options("ba", "mem-b", "mem-a"));

  constexpr int from_a = 30, from_b = 20;
  std::set<std::string> ids;
  for (int i = 0; i < from_a; ++i) {
    Envelope e = Envelope::make("order.created", {{"i", i}});
    ids.insert(e.id);
    a->publish(std::move(e));
  }
  for (int i = 0; i < from_b; ++i) {
    Envelope e = Envelope::make("payment.taken", {{"i", i}});
    ids.insert(e.id);
    b->publish(std::move(e));
  }

  REQUIRE(wait_until([&] {
    return ab.counts().forwarded == from_a && ab.counts().skipped_loop == from_b && ba.counts().forwarded == from_b &&
           ba.counts().skipped_loop == from_a;
  }));
  // Whatever the bridges still had in hand lands now; then nothing may grow.
  for (int round = 0; round < 3; ++round) {
    REQUIRE(a->flush(seconds(10)));
    REQUIRE(b->flush(seconds(10)));
  }
  for (auto* side : {&on_a, &on_b}) {
    auto seen = side->seen.items();
    CHECK(seen.size() == ids.size());
    std::set<std::string> seen_ids;
    for (const auto& e : seen) seen_ids.insert(e.id);
    CHECK(seen_ids == ids);
  }
  auto ab_counts = ab.counts();
  auto ba_counts = ba.counts();
  CHECK(ab_counts.forwarded == from_a);
  CHECK(ab_counts.skipped_loop == from_b);
  CHECK(ba_counts.forwarded == from_b);
  CHECK(ba_counts.skipped_loop == from_a);
}

TEST_CASE("a forward the destination refuses is retried, and arrives once the destination is back",
          "[bridge][retry]") {
  auto a = make_bus("memory://");
  FailingBus b;
  Recorder<Envelope> arrived;
  auto sub = b.subscribe({.pattern = "#", .group = "reader"}, [&](const Envelope& e) { arrived.add(e); });
  auto opts = options("ab", "mem-a", "failing-b");
  std::string how = GENERATE(as<std::string>{}, "retried in place", "handed back to the source");
  INFO(how);
  if (how == "handed back to the source") {
    opts.hold = milliseconds(0);
    opts.retry = quick_retry(1000);
  }
  Bridge bridge(*a, b, opts);

  b.go_down();
  std::vector<std::string> ids;
  for (int n = 0; n < 3; ++n) {
    Envelope e = Envelope::make("order.updated", {{"n", n}});
    e.partitionkey = "order-1";
    ids.push_back(e.id);
    a->publish(std::move(e));
  }
  REQUIRE(wait_until([&] { return bridge.counts().failed >= 3; }));
  CHECK(arrived.size() == 0);
  CHECK_THAT(bridge.last_error(), Catch::Contains("broker unreachable (test)"));
  b.heal();

  REQUIRE(arrived.wait_for(3));
  REQUIRE(a->flush(seconds(10)));
  auto got = arrived.items();
  REQUIRE(got.size() == 3);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].id == ids[i]);
  CHECK(bridge.counts().forwarded == 3);
  CHECK(a->dead_letters("ab").empty());
}

TEST_CASE("an event in the legacy snake_case envelope is bridged as the same Envelope", "[bridge][legacy]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  Tap on_b(*b);
  Bridge bridge(*a, *b, options("ab", "mem-a", "mem-b"));
  const Envelope legacy = decode(R"({
    "event_id": "evt-legacy-1", "event_type": "order.created", "timestamp": "2025-03-01T10:00:00.5+01:00",
    "version": 2, "payload": {"order_id": "42"},
    "metadata": {"correlation_id": "corr-9", "source_service": "orders-v1", "aggregate_id": "42",
                 "aggregate_type": "order", "user_id": "user:7"}})");
  a->publish(legacy);
  REQUIRE(on_b.seen.wait_for(1));
  CHECK(without_via(on_b.seen.items()[0]) == legacy);
}

TEST_CASE("an event beyond max_hops is refused and dead-lettered on the source", "[bridge][loop]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  Tap on_b(*b);
  auto opts = options("ab", "mem-a", "mem-b");
  opts.max_hops = 2;
  Bridge bridge(*a, *b, opts);

  Envelope far = Envelope::make("order.created", {});
  far.extensions["heraldvia"] = "x1 b1>x2 b2>mem-a";
  Envelope near = Envelope::make("order.created", {});
  near.extensions["heraldvia"] = "x1 b1>mem-a";
  a->publish(far);
  a->publish(near);

  REQUIRE(on_b.seen.wait_for(1));
  REQUIRE(wait_until([&] { return a->dead_letters("ab").size() == 1; }));
  CHECK(a->dead_letters("ab")[0].event.id == far.id);
  CHECK(on_b.seen.items()[0].id == near.id);
  CHECK(via_of(on_b.seen.items()[0]) == "x1 b1>mem-a ab>mem-b");
  CHECK(bridge.counts().refused == 1);
}

TEST_CASE("an event that was on the destination already, or passed this bridge, is not forwarded",
          "[bridge][loop]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  Tap on_b(*b);
  Bridge bridge(*a, *b, options("ab", "mem-a", "mem-b"));
  Envelope was_on_b = Envelope::make("order.created", {});
  was_on_b.extensions["heraldvia"] = "mem-b other>mem-a";
  Envelope passed_here = Envelope::make("order.created", {});
  passed_here.extensions["heraldvia"] = "x ab>y z>mem-a";
  Envelope fresh = Envelope::make("order.created", {});
  a->publish(was_on_b);
  a->publish(passed_here);
  a->publish(fresh);
  REQUIRE(on_b.seen.wait_for(1));
  REQUIRE(a->flush(seconds(10)));
  REQUIRE(b->flush(seconds(10)));
  CHECK(on_b.seen.size() == 1);
  CHECK(on_b.seen.items()[0].id == fresh.id);
  CHECK(bridge.counts().skipped_loop == 2);
}

TEST_CASE("stop drains the bridge: what it took is on the destination, and it takes nothing more", "[bridge]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  Tap on_b(*b);
  Bridge bridge(*a, *b, options("ab", "mem-a", "mem-b"));
  for (int i = 0; i < 200; ++i) a->publish(Envelope::make("order.created", {{"i", i}}));
  REQUIRE(bridge.stop(seconds(10)));
  const auto forwarded = bridge.counts().forwarded;
  CHECK(on_b.seen.size() == forwarded);
  CHECK(bridge.stop(seconds(1)));  // again: nothing to do

  a->publish(Envelope::make("order.created", {}));
  REQUIRE(a->flush(seconds(10)));
  CHECK(bridge.counts().forwarded == forwarded);
  CHECK(on_b.seen.size() == forwarded);
}

TEST_CASE("a bridge refuses a configuration that could loop or cannot be written into events", "[bridge][config]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  CHECK_THROWS_WITH(Bridge(*a, *b, options("ab", "same", "same")), Catch::Contains("same transport"));
  CHECK_THROWS_WITH(Bridge(*a, *b, options("ab", "", "mem-b")), Catch::Contains("from_label"));
  CHECK_THROWS_WITH(Bridge(*a, *b, options("a b", "mem-a", "mem-b")), Catch::Contains("name 'a b'"));
  CHECK_THROWS_WITH(Bridge(*a, *b, options("ab", "mem-a", "x>y")), Catch::Contains("to_label"));
  CHECK_THROWS_AS(Bridge(*a, *a, options("ab", "mem-a", "mem-b")), ConfigError);
}

TEST_CASE("a transport label names where events live, never credentials", "[bridge][config]") {
  CHECK(bridge_transport_label("amqp://app:s3cret@Rabbit1:5672/?exchange=orders&prefetch=50") ==
        "amqp://rabbit1:5672/?exchange=orders");
  CHECK(bridge_transport_label("amqp://other:pw@rabbit1:5672/?exchange=orders") ==
        bridge_transport_label("amqp://rabbit1:5672?exchange=orders&heartbeat=10"));
  CHECK(bridge_transport_label("amqp://rabbit1:5672/prod") != bridge_transport_label("amqp://rabbit1:5672/"));
  CHECK(bridge_transport_label("kafka://k1:9092,k2:9092?topic_prefix=shop.&kafka.sasl.password=x") ==
        "kafka://k1:9092,k2:9092/?topic_prefix=shop.");
  CHECK_THROWS_AS(bridge_transport_label("no-scheme"), ConfigError);
}

TEST_CASE("stop does not wait out a forward retrying in place: the event goes back to the source", "[bridge][retry]") {
  auto a = make_bus("memory://");
  FailingBus b;
  auto opts = options("ab", "mem-a", "failing-b");
  opts.hold = std::chrono::minutes(10);
  Bridge bridge(*a, b, opts);
  b.go_down();
  Envelope e = Envelope::make("order.created", {});
  a->publish(e);
  REQUIRE(wait_until([&] { return bridge.counts().failed >= 1; }));

  const auto before = std::chrono::steady_clock::now();
  bridge.stop(seconds(1));
  CHECK(std::chrono::steady_clock::now() - before < seconds(10));
  CHECK(bridge.counts().forwarded == 0);
  // Memory keeps nothing for a group that stopped reading: its dead letters
  // hold the event (a broker would keep it in the group's queue).
  REQUIRE(wait_until([&] { return a->dead_letters("ab").size() == 1; }));
  CHECK(a->dead_letters("ab")[0].event.id == e.id);
}
