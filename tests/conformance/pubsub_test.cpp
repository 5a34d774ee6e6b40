#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include "fixture.hpp"
#include "herald/context.hpp"
#include "herald/errors.hpp"
#include "herald/idempotency.hpp"
#include "herald/typed.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a subscriber receives a published event with every attribute intact", "[conformance][pubsub]") {
  BusFixture f;
  Recorder<Envelope> got;
  auto sub = f.bus->subscribe({.pattern = "order.created", .group = f.group("a")}, [&](const Envelope& e) { got.add(e); });

  Envelope sent = Envelope::make("order.created", {{"order_id", "42"}, {"total", 99.5}}, "tests/orders");
  sent.subject = "orders/42";
  sent.partitionkey = "42";
  sent.aggregatetype = "order";
  sent.aggregateid = "42";
  sent.actor = "user:7";
  sent.dataversion = 3;
  sent.extensions["tenant"] = "acme";
  f.bus->publish(sent);

  REQUIRE(got.wait_for(1, deadline));
  const auto items = got.items();
  const Envelope& e = items.front();
  CHECK(e.id == sent.id);
  CHECK(e.type == "order.created");
  CHECK(e.source == "tests/orders");
  CHECK(e.time == sent.time);
  CHECK(e.subject == "orders/42");
  CHECK(e.partitionkey == "42");
  CHECK(e.aggregatetype == "order");
  CHECK(e.aggregateid == "42");
  CHECK(e.actor == "user:7");
  CHECK(e.dataversion == 3);
  CHECK(e.extensions.at("tenant") == "acme");
  CHECK(e.payload() == nlohmann::json({{"order_id", "42"}, {"total", 99.5}}));
}

TEST_CASE("patterns select by type: '*' is exactly one word, '#' is zero or more", "[conformance][pattern]") {
  BusFixture f;
  Recorder<std::string> star, hash, mid;
  auto s1 = f.bus->subscribe({.pattern = "order.*", .group = f.group("star")}, [&](const Envelope& e) { star.add(e.type); });
  auto s2 = f.bus->subscribe({.pattern = "order.#", .group = f.group("hash")}, [&](const Envelope& e) { hash.add(e.type); });
  auto s3 = f.bus->subscribe({.pattern = "#.failed.#", .group = f.group("mid")}, [&](const Envelope& e) { mid.add(e.type); });

  for (const char* type : {"order.created", "order.item.added", "order.failed.create", "payment.failed", "order"})
    f.bus->publish(Envelope::make(type, {{"x", 1}}));
  // A marker each group receives last, so the counts below are final.
  f.bus->publish(Envelope::make("order.failed", {{"end", true}}));

  REQUIRE(star.wait_for(2, deadline));
  REQUIRE(hash.wait_for(5, deadline));
  REQUIRE(mid.wait_for(3, deadline));
  REQUIRE(f.bus->flush(deadline));
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(star.items()) == std::vector<std::string>{"order.created", "order.failed"});
  CHECK(sorted(hash.items()) ==
        std::vector<std::string>{"order", "order.created", "order.failed", "order.failed.create", "order.item.added"});
  CHECK(sorted(mid.items()) == std::vector<std::string>{"order.failed", "order.failed.create", "payment.failed"});
}

TEST_CASE("members of one group compete and every group gets every event", "[conformance][group]") {
  BusFixture f;
  constexpr int n = 40;
  std::atomic<int> a1{0}, a2{0}, b{0};
  Recorder<std::string> ids_a, ids_b;
  auto sa1 = f.bus->subscribe({.pattern = "stock.*", .group = f.group("billing")}, [&](const Envelope& e) { ++a1; ids_a.add(e.id); });
  auto sa2 = f.bus->subscribe({.pattern = "stock.*", .group = f.group("billing")}, [&](const Envelope& e) { ++a2; ids_a.add(e.id); });
  auto sb = f.bus->subscribe({.pattern = "stock.*", .group = f.group("audit")}, [&](const Envelope& e) { ++b; ids_b.add(e.id); });

  for (int i = 0; i < n; ++i) {
    auto e = Envelope::make("stock.moved", {{"i", i}});
    e.partitionkey = "sku-" + std::to_string(i);
    f.bus->publish(e);
  }
  REQUIRE(ids_a.wait_for(n, deadline));
  REQUIRE(ids_b.wait_for(n, deadline));
  REQUIRE(f.bus->flush(deadline));
  auto a = ids_a.items();
  CHECK(std::set<std::string>(a.begin(), a.end()).size() == n);  // each once in the group
  CHECK(a.size() == n);
  CHECK(a1 + a2 == n);
  CHECK(b == n);
}

TEST_CASE("events with the same partition key are handled in publish order within a group", "[conformance][ordering]") {
  BusFixture f;
  if (!f.features.ordered_per_key) {
    SUCCEED("transport " << f.features.name << " does not keep order per key");
    return;
  }
  std::mutex mutex;
  std::map<std::string, std::vector<int>> seen;
  std::atomic<int> total{0};
  auto sub = f.bus->subscribe({.pattern = "account.#", .group = f.group("ledger"), .concurrency = 4},
                              [&](const Envelope& e) {
                                auto p = e.payload();
                                std::lock_guard lock(mutex);
                                seen[e.partitionkey].push_back(p["seq"].get<int>());
                                ++total;
                              });
  constexpr int keys = 5, per_key = 40;
  std::vector<Envelope> batch;
  for (int i = 0; i < per_key; ++i)
    for (int k = 0; k < keys; ++k) {
      auto e = Envelope::make(i % 2 ? "account.debited" : "account.credited", {{"seq", i}});
      e.partitionkey = "acct-" + std::to_string(k);
      batch.push_back(e);
    }
  f.bus->publish(batch);
  REQUIRE(wait_until([&] { return total.load() >= keys * per_key; }, deadline));
  std::lock_guard lock(mutex);
  REQUIRE(seen.size() == keys);
  for (const auto& [key, seqs] : seen) {
    INFO("key " << key);
    CHECK(seqs.size() == per_key);
    CHECK(std::is_sorted(seqs.begin(), seqs.end()));
  }
}

namespace conformance {
struct ParcelShipped {
  static constexpr std::string_view event_type = "parcel.shipped";
  static constexpr int event_version = 2;
  std::string parcel_id;
  std::string carrier;
  std::string partition_key() const { return parcel_id; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ParcelShipped, parcel_id, carrier)
}  // namespace conformance

TEST_CASE("typed events arrive as structs and upcasters lift old versions", "[conformance][typed]") {
  BusFixture f;
  Upcasters upcasters;
  // v1 called the carrier "shipper".
  upcasters.add("parcel.shipped", 1, [](nlohmann::json p) {
    p["carrier"] = p["shipper"];
    p.erase("shipper");
    return p;
  });
  Recorder<conformance::ParcelShipped> got;
  Recorder<std::string> keys;
  auto sub = subscribe<conformance::ParcelShipped>(
      *f.bus, f.group("tracking"),
      [&](const conformance::ParcelShipped& p, const Envelope& e) {
        keys.add(e.partitionkey);  // before `got`, which the test waits on
        got.add(p);
      },
      {}, upcasters);

  publish(*f.bus, conformance::ParcelShipped{"p-1", "dhl"});
  Envelope old = Envelope::make("parcel.shipped", {{"parcel_id", "p-0"}, {"shipper", "ups"}});
  old.dataversion = 1;
  f.bus->publish(old);

  REQUIRE(got.wait_for(2, deadline));
  std::map<std::string, std::string> carriers;
  for (const auto& p : got.items()) carriers[p.parcel_id] = p.carrier;
  CHECK(carriers == std::map<std::string, std::string>{{"p-0", "ups"}, {"p-1", "dhl"}});
  auto k = keys.items();
  CHECK(std::count(k.begin(), k.end(), "p-1") == 1);
}

TEST_CASE("the idempotent consumer gives a redelivered event no second effect", "[conformance][idempotency]") {
  BusFixture f;
  auto store = std::make_shared<MemoryIdempotencyStore>();
  std::atomic<int> effects{0}, duplicates{0};
  const std::string group = f.group("mailer");
  auto sub = f.bus->subscribe(
      {.pattern = "invoice.*", .group = group},
      idempotent(store, group, [&](const Envelope&) { ++effects; }, {.on_duplicate = [&](const Envelope&) { ++duplicates; }}));
  Envelope e = Envelope::make("invoice.sent", {{"n", 1}});
  f.bus->publish(e);
  if (f.features.unique_ids) {
    // An outbox holds each id once: the same event again is refused, and a
    // redelivery comes from the transport below it.
    CHECK_THROWS_AS(f.bus->publish(e), StoreError);
    f.delivering_bus().publish(e);
  } else {
    f.bus->publish(e);  // the same id again, as a broker redelivery would
  }
  f.bus->publish(Envelope::make("invoice.sent", {{"n", 2}}));
  // A bus that dedups ids itself acks the second copy before the handler's
  // own idempotency sees it.
  const int expected_duplicates = f.features.dedups_ids ? 0 : 1;
  REQUIRE(wait_until([&] { return effects + duplicates >= 2 + expected_duplicates; }, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(effects == 2);
  CHECK(duplicates == expected_duplicates);
}

TEST_CASE("an event published inside a handler carries the correlation and causation ids", "[conformance][context]") {
  BusFixture f;
  Recorder<Envelope> shipped;
  auto s1 = f.bus->subscribe({.pattern = "cart.checked_out", .group = f.group("orders")}, [&](const Envelope&) {
    f.bus->publish(Envelope::make("cart.converted", {{"ok", true}}));
  });
  auto s2 = f.bus->subscribe({.pattern = "cart.converted", .group = f.group("shipping")}, [&](const Envelope& e) { shipped.add(e); });
  Envelope first = Envelope::make("cart.checked_out", {{"cart", 1}});
  Envelope second = Envelope::make("cart.checked_out", {{"cart", 2}});
  second.correlationid = "corr-from-http-request";
  f.bus->publish(first);
  f.bus->publish(second);
  REQUIRE(shipped.wait_for(2, deadline));
  std::map<std::string, std::string> correlation_by_cause;
  for (const auto& e : shipped.items()) correlation_by_cause[e.causationid] = e.correlationid;
  CHECK(correlation_by_cause[first.id] == first.id);
  CHECK(correlation_by_cause[second.id] == "corr-from-http-request");
  CHECK(current_event() == nullptr);  // context does not leak into the test thread
}

TEST_CASE("flush returns once published events are handled", "[conformance][flush]") {
  BusFixture f;
  std::atomic<int> handled{0};
  auto sub = f.bus->subscribe({.pattern = "report.#", .group = f.group("reports")}, [&](const Envelope&) { ++handled; });
  std::vector<Envelope> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(Envelope::make("report.generated", {{"i", i}}));
  f.bus->publish(batch);
  REQUIRE(f.bus->flush(deadline));
  CHECK(handled == 100);
}

TEST_CASE("a cancelled subscription receives nothing more", "[conformance][subscription]") {
  BusFixture f;
  std::atomic<int> cancelled{0};
  Recorder<std::string> kept;
  auto gone = f.bus->subscribe({.pattern = "ping.*", .group = f.group("gone")}, [&](const Envelope&) { ++cancelled; });
  auto stay = f.bus->subscribe({.pattern = "ping.*", .group = f.group("stay")}, [&](const Envelope& e) { kept.add(e.id); });
  f.bus->publish(Envelope::make("ping.sent", {{"n", 1}}));
  REQUIRE(kept.wait_for(1, deadline));
  REQUIRE(wait_until([&] { return cancelled.load() == 1; }, deadline));
  gone.cancel();
  CHECK_FALSE(gone.active());
  f.bus->publish(Envelope::make("ping.sent", {{"n", 2}}));
  REQUIRE(kept.wait_for(2, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(cancelled == 1);
}

TEST_CASE("publish after close fails with a closed error", "[conformance][close]") {
  BusFixture f;
  std::atomic<int> handled{0};
  auto sub = f.bus->subscribe({.pattern = "job.*", .group = f.group("jobs")}, [&](const Envelope&) { ++handled; });
  f.bus->publish(Envelope::make("job.queued", {{"n", 1}}));
  REQUIRE(wait_until([&] { return handled.load() == 1; }, deadline));
  f.bus->close();
  f.bus->close();  // idempotent
  CHECK_THROWS_AS(f.bus->publish(Envelope::make("job.queued", {{"n", 2}})), ClosedError);
}

TEST_CASE("bad publishes are refused with an error that names the problem", "[conformance][validation]") {
  BusFixture f;
  SECTION("a type with a wildcard") {
    CHECK_THROWS_WITH(f.bus->publish(Envelope::make("order.*", {})), Catch::Contains("wildcards"));
  }
  SECTION("an empty type") { CHECK_THROWS_AS(f.bus->publish(Envelope::make("", {})), ConfigError); }
  SECTION("data over the size limit") {
    Envelope big = Envelope::make("blob.stored", std::string(f.bus->decode_options().max_data_bytes + 1, 'x'));
    CHECK_THROWS_WITH(f.bus->publish(big), Catch::Contains("exceeds the limit"));
  }
  SECTION("a bad extension name") {
    Envelope e = Envelope::make("order.created", {});
    e.extensions["Tenant_ID"] = "x";
    CHECK_THROWS_WITH(f.bus->publish(e), Catch::Contains("Tenant_ID"));
  }
  SECTION("a bad pattern or an empty group") {
    CHECK_THROWS_AS(f.bus->subscribe({.pattern = "order.cre*", .group = "g"}, [](const Envelope&) {}), ConfigError);
    CHECK_THROWS_AS(f.bus->subscribe({.pattern = "order.*", .group = ""}, [](const Envelope&) {}), ConfigError);
  }
}
