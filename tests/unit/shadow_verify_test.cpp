// Shadow verification over two in-process buses: each defect a migration can
// show (an event on one side only, a duplicate, a different payload, a key's
// order broken) made on purpose and found by id, and what must compare equal
// (the legacy envelope beside CloudEvents, a bridge's hop marker).

#include <catch2/catch.hpp>

#include "herald/bridge.hpp"
#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/shadow_verify.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;

namespace {

// Two transports and a verifier reading both. The grace is short: memory
// delivers in microseconds and each test flushes before it finishes.
struct TwoSides {
  std::unique_ptr<EventBus> old_bus = make_bus("memory://");
  std::unique_ptr<EventBus> new_bus = make_bus("memory://");
  ShadowVerifier verifier;

  explicit TwoSides(ShadowVerifyOptions options = {.pattern = "order.#", .duration = 1min, .grace = 50ms})
      : verifier(*old_bus, *new_bus, std::move(options)) {
    verifier.start();
  }
  void both(const Envelope& e) {
    old_bus->publish(e);
    new_bus->publish(e);
  }
  ShadowReport finish() {
    REQUIRE(old_bus->flush(5s));
    REQUIRE(new_bus->flush(5s));
    return verifier.finish();
  }
};

Envelope order(const std::string& type, const std::string& key, int n) {
  Envelope e = Envelope::make(type, {{"order_id", key}, {"n", n}}, "/orders");
  e.partitionkey = key;
  return e;
}

std::vector<std::string> ids(std::initializer_list<const Envelope*> events) {
  std::vector<std::string> out;
  for (const Envelope* e : events) out.push_back(e->id);
  return out;
}

}  // namespace

TEST_CASE("the same events on both sides, in the same order per key, verify clean", "[verify][memory]") {
  TwoSides t;
  std::vector<Envelope> events;
  for (int i = 0; i < 6; ++i) events.push_back(order("order.created", i % 2 ? "a" : "b", i));
  for (const auto& e : events) t.both(e);

  ShadowReport r = t.finish();
  CHECK(r.clean());
  CHECK(r.compared == 6);
  CHECK(r.old_side.events == 6);
  CHECK(r.new_side.events == 6);
  CHECK(r.only_old.count == 0);
  CHECK(r.only_new.count == 0);
  CHECK(r.mismatched.count == 0);
  CHECK(r.reordered.count == 0);
  CHECK(r.old_side.lag.samples == 6);
  CHECK(r.to_json()["clean"] == true);
}

TEST_CASE("an event on one side only is reported by id, on the side that has it", "[verify][memory]") {
  TwoSides t;
  Envelope shared = order("order.created", "a", 1);
  Envelope old_only = order("order.paid", "a", 2);
  Envelope new_only = order("order.shipped", "b", 3);
  t.both(shared);
  t.old_bus->publish(old_only);
  t.new_bus->publish(new_only);

  ShadowReport r = t.finish();
  CHECK_FALSE(r.clean());
  CHECK(r.only_old.count == 1);
  CHECK(r.only_old.ids == ids({&old_only}));
  CHECK(r.only_new.count == 1);
  CHECK(r.only_new.ids == ids({&new_only}));
  CHECK(r.compared == 1);
  CHECK(r.to_json()["only_old"]["ids"][0] == old_only.id);
}

TEST_CASE("an event delivered twice on one side is a duplicate of that side", "[verify][memory]") {
  TwoSides t;
  Envelope once = order("order.created", "a", 1);
  Envelope twice = order("order.paid", "a", 2);
  t.both(once);
  t.old_bus->publish(twice);
  t.new_bus->publish(twice);
  t.new_bus->publish(twice);  // memory delivers the same id again, as a redelivery would

  ShadowReport r = t.finish();
  CHECK_FALSE(r.clean());
  CHECK(r.new_side.duplicates.count == 1);
  CHECK(r.new_side.duplicates.ids == ids({&twice}));
  CHECK(r.old_side.duplicates.count == 0);
  CHECK(r.new_side.received == 3);
  CHECK(r.new_side.events == 2);
  CHECK(r.only_old.count == 0);
  CHECK(r.only_new.count == 0);
}

TEST_CASE("the same id with a different payload is a digest mismatch", "[verify][memory]") {
  TwoSides t;
  Envelope same = order("order.created", "a", 1);
  Envelope original = order("order.paid", "a", 2);
  Envelope altered = original;
  altered.set_payload({{"order_id", "a"}, {"n", 3}});
  t.both(same);
  t.old_bus->publish(original);
  t.new_bus->publish(altered);

  ShadowReport r = t.finish();
  CHECK_FALSE(r.clean());
  CHECK(r.mismatched.count == 1);
  CHECK(r.mismatched.ids == ids({&original}));
  CHECK(r.only_old.count == 0);
  CHECK(r.only_new.count == 0);
  CHECK(r.compared == 2);
}

TEST_CASE("payloads equal as JSON are equal whatever their spacing and key order", "[verify]") {
  Envelope a = Envelope::make("order.created", nullptr, "/orders");
  a.data = R"({"b": [1, 2], "a": {"y": true, "x": null}})";
  Envelope b = a;
  b.data = R"({"a":{"x":null,"y":true},"b":[1,2]})";
  CHECK(event_digest(a) == event_digest(b));
  b.data = R"({"a":{"x":null,"y":false},"b":[1,2]})";
  CHECK(event_digest(a) != event_digest(b));
}

TEST_CASE("each attribute of the digest counts, and time and context ids do not", "[verify]") {
  const Envelope base = order("order.created", "a", 1);
  const std::string digest = event_digest(base);
  auto differs = [&](auto change) {
    Envelope e = base;
    change(e);
    return event_digest(e) != digest;
  };
  CHECK(differs([](Envelope& e) { e.type = "order.paid"; }));
  CHECK(differs([](Envelope& e) { e.source = "/billing"; }));
  CHECK(differs([](Envelope& e) { e.subject = "orders/a"; }));
  CHECK(differs([](Envelope& e) { e.dataversion = 2; }));
  CHECK(differs([](Envelope& e) { e.partitionkey = "b"; }));
  CHECK(differs([](Envelope& e) { e.datacontenttype = "application/xml"; }));
  CHECK(differs([](Envelope& e) { e.data = "{\"order_id\":\"a\"}"; }));
  CHECK_FALSE(differs([](Envelope& e) { e.time += 5s; }));
  CHECK_FALSE(differs([](Envelope& e) { e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; }));
  CHECK_FALSE(differs([](Envelope& e) { e.correlationid = "c-9"; }));
}

TEST_CASE("an event the new side gives after a later event of its key is reordered", "[verify][memory]") {
  TwoSides t;
  Envelope first = order("order.created", "a", 1);
  Envelope second = order("order.paid", "a", 2);
  Envelope third = order("order.shipped", "a", 3);
  Envelope other_key = order("order.created", "b", 4);
  for (const Envelope* e : {&first, &second, &third, &other_key}) t.old_bus->publish(*e);
  // Key b before key a is no inversion: order holds per key only.
  for (const Envelope* e : {&other_key, &second, &first, &third}) t.new_bus->publish(*e);

  ShadowReport r = t.finish();
  CHECK_FALSE(r.clean());
  CHECK(r.reordered.count == 1);
  CHECK(r.reordered.ids == ids({&first}));
  CHECK(r.compared == 4);
  CHECK(r.only_old.count == 0);
  CHECK(r.mismatched.count == 0);
}

TEST_CASE("events without a partition key have no order to break", "[verify][memory]") {
  TwoSides t;
  Envelope a = Envelope::make("order.created", {{"n", 1}}, "/orders");
  Envelope b = Envelope::make("order.created", {{"n", 2}}, "/orders");
  t.old_bus->publish(a);
  t.old_bus->publish(b);
  t.new_bus->publish(b);
  t.new_bus->publish(a);

  ShadowReport r = t.finish();
  CHECK(r.clean());
  CHECK(r.compared == 2);
}

TEST_CASE("one event in the legacy snake_case envelope and in CloudEvents compares equal", "[verify][memory][legacy]") {
  TwoSides t;
  Envelope cloud = order("order.created", "42", 1);
  cloud.aggregateid = "42";
  cloud.data = R"({"order_id":"42","n":1})";
  // What a legacy service still writes on the old transport: the same event
  // by id, with its payload's keys in another order. Transports hand these
  // bytes to the decoder; memory carries envelopes, so the test decodes them.
  const std::string legacy_bytes = nlohmann::json{{"event_id", cloud.id},
                                                  {"event_type", "order.created"},
                                                  {"timestamp", format_time(cloud.time)},
                                                  {"version", 1},
                                                  {"payload", {{"n", 1}, {"order_id", "42"}}},
                                                  {"metadata",
                                                   {{"source_service", "/orders"},
                                                    {"aggregate_id", "42"},
                                                    {"correlation_id", "c-1"}}}}
                                       .dump();
  const Envelope legacy = decode(legacy_bytes);
  REQUIRE(legacy.id == cloud.id);
  REQUIRE(legacy.partitionkey == "42");
  CHECK(event_digest(legacy) == event_digest(cloud));
  CHECK(event_digest(decode(encode(cloud))) == event_digest(cloud));

  t.old_bus->publish(legacy);
  t.new_bus->publish(decode(encode(cloud)));

  ShadowReport r = t.finish();
  CHECK(r.clean());
  CHECK(r.compared == 1);
  CHECK(r.mismatched.count == 0);
}

TEST_CASE("a copy that differs only in the bridge's hop marker compares equal", "[verify][memory][bridge]") {
  TwoSides t;
  Envelope original = order("order.created", "a", 1);
  Envelope bridged = original;
  bridged.extensions[std::string(bridge_via_attribute)] = "amqp://rabbit1:5672/ orders-rk>kafka://k1:9092";
  CHECK(event_digest(original) == event_digest(bridged));
  t.old_bus->publish(original);
  t.new_bus->publish(bridged);

  ShadowReport r = t.finish();
  CHECK(r.clean());
  CHECK(r.compared == 1);
}

TEST_CASE("events from before the verifier listened are outside the window, not missing", "[verify][memory]") {
  Envelope earlier = order("order.created", "a", 1);  // its time is before start()
  TwoSides t;
  Envelope inside = order("order.paid", "a", 2);
  t.old_bus->publish(earlier);  // e.g. the new side carried it before the verifier started
  t.both(inside);

  ShadowReport r = t.finish();
  CHECK(r.clean());
  CHECK(r.outside_window == 1);
  CHECK(r.compared == 1);
  CHECK(r.only_old.count == 0);
}

TEST_CASE("an event first seen after collection ended is left out, one seen before is waited for",
          "[verify][memory]") {
  TwoSides t({.pattern = "order.#", .duration = 1min, .grace = 300ms});
  Envelope straggler = order("order.created", "a", 1);
  t.old_bus->publish(straggler);
  REQUIRE(t.old_bus->flush(5s));
  t.verifier.stop();
  REQUIRE(t.verifier.done());
  Envelope late = order("order.paid", "a", 2);
  // The straggler reaches the new side during the grace period; the late
  // event is new after the end and compares on neither side.
  t.new_bus->publish(straggler);
  t.old_bus->publish(late);

  ShadowReport r = t.finish();
  CHECK(r.clean());
  CHECK(r.compared == 1);
  CHECK(r.outside_window == 1);
}

TEST_CASE("collection ends once each side received the number of events asked for", "[verify][memory]") {
  TwoSides t({.pattern = "order.#", .duration = 0ms, .events = 3, .grace = 50ms});
  for (int i = 0; i < 2; ++i) t.both(order("order.created", "a", i));
  REQUIRE(t.old_bus->flush(5s));
  REQUIRE(t.new_bus->flush(5s));
  CHECK_FALSE(t.verifier.wait(20ms));
  t.old_bus->publish(order("order.created", "a", 2));
  t.old_bus->publish(order("order.created", "a", 3));
  REQUIRE(t.old_bus->flush(5s));
  CHECK_FALSE(t.verifier.wait(20ms));  // the new side has 2 of 3
  t.new_bus->publish(order("order.created", "b", 4));
  CHECK(t.verifier.wait(5s));

  ShadowReport r = t.finish();
  CHECK_FALSE(r.clean());  // 2 and 3 on the old side only, 4 on the new side only
  CHECK(r.only_old.count == 2);
  CHECK(r.only_new.count == 1);
}

TEST_CASE("collection ends when its duration has passed", "[verify][memory]") {
  TwoSides t({.pattern = "order.#", .duration = 100ms, .grace = 0ms});
  CHECK(t.verifier.wait(5s));
  ShadowReport r = t.finish();
  CHECK(r.collected_for >= 100ms);
  CHECK(r.clean());
  CHECK(r.compared == 0);
}

TEST_CASE("the verifier reads with a group of its own and takes no event from another group", "[verify][memory]") {
  auto old_bus = make_bus("memory://");
  auto new_bus = make_bus("memory://");
  Recorder<std::string> service;
  auto sub = old_bus->subscribe({.pattern = "order.#", .group = "herald-verify"},
                                [&](const Envelope& e) { service.add(e.id); });
  ShadowVerifier verifier(*old_bus, *new_bus, {.pattern = "order.#", .duration = 1min, .grace = 0ms});
  verifier.start();
  Envelope e = order("order.created", "a", 1);
  old_bus->publish(e);
  new_bus->publish(e);
  REQUIRE(old_bus->flush(5s));
  REQUIRE(new_bus->flush(5s));
  ShadowReport r = verifier.finish();
  CHECK(r.compared == 1);
  // A group named like the verifier's prefix still got its own copy.
  CHECK(service.items() == std::vector<std::string>{e.id});
}

TEST_CASE("the report lists a few ids of each finding and counts them all", "[verify][memory]") {
  TwoSides t({.pattern = "order.#", .duration = 1min, .grace = 50ms, .max_listed = 2});
  std::vector<Envelope> missing;
  for (int i = 0; i < 5; ++i) missing.push_back(order("order.created", "k" + std::to_string(i), i));
  for (const auto& e : missing) t.old_bus->publish(e);

  ShadowReport r = t.finish();
  CHECK(r.only_old.count == 5);
  CHECK(r.only_old.ids == ids({&missing[0], &missing[1]}));
  const nlohmann::json j = r.to_json();
  CHECK(j["only_old"]["count"] == 5);
  CHECK(j["only_old"]["ids"].size() == 2);
  CHECK(j["clean"] == false);
  CHECK(j["old"]["name"] == "old");
}

TEST_CASE("a verifier without an end or with a bad pattern is refused", "[verify]") {
  auto a = make_bus("memory://");
  auto b = make_bus("memory://");
  CHECK_THROWS_AS(ShadowVerifier(*a, *b, {.pattern = "order.#", .duration = 0ms, .events = 0}), ConfigError);
  CHECK_THROWS_AS(ShadowVerifier(*a, *b, {.pattern = "order..#"}), ConfigError);
}
