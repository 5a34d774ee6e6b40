// herald::Bridge from RabbitMQ to Kafka on the test brokers: what a service
// publishes on RabbitMQ reaches its consumers on Kafka once, as it was.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "herald/bridge.hpp"
#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "kafka_fixture.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// One run's RabbitMQ exchange and Kafka topics, and a bridge between them.
struct RabbitToKafka {
  std::string ns = unique_name("bridge");
  std::string exchange = "herald.it." + ns;
  std::unique_ptr<EventBus> rabbit = make_bus(isolated_config(ns));
  std::unique_ptr<EventBus> kafka = make_bus(kafka_config(ns));
  std::string from_label = bridge_transport_label(amqp_url() + "?exchange=" + exchange);
  std::string to_label = bridge_transport_label("kafka://" + kafka_brokers() + "?topic_prefix=herald-it." + ns + ".");

  BridgeOptions options() const {
    return {.pattern = "order.#", .group = ns + "-bridge", .from_label = from_label, .to_label = to_label};
  }
};

}  // namespace

TEST_CASE("a RabbitMQ → Kafka bridge carries every event once, ids kept, order per key held",
          "[bridge][rabbitmq][kafka]") {
  RabbitToKafka run;
  Recorder<Envelope> on_kafka;
  // Earliest: the topic is this run's own, and the reader must not miss
  // what lands before its partitions are assigned.
  auto reader = run.kafka->subscribe({.pattern = "order.#", .group = run.ns + "-reader", .start = StartFrom::earliest},
                                     [&](const Envelope& e) { on_kafka.add(e); });
  auto opts = run.options();
  opts.concurrency = 4;
  Bridge bridge(*run.rabbit, *run.kafka, opts);

  constexpr int keys = 10, per_key = 20;
  std::vector<Envelope> published;
  for (int n = 0; n < per_key; ++n)
    for (int k = 0; k < keys; ++k) {
      Envelope e = Envelope::make(n == 0 ? "order.created" : "order.updated", {{"n", n}}, "/orders");
      e.partitionkey = "order-" + std::to_string(k);
      e.correlationid = "corr-" + std::to_string(k);
      e.extensions["tenant"] = "acme";
      published.push_back(e);
    }
  run.rabbit->publish(published);

  if (!on_kafka.wait_for(published.size(), std::chrono::seconds(60))) {
    // Where it stopped: which keys (so which partitions) came short, and
    // whether the bridge forwarded what the reader did not see.
    std::map<std::string, int> per_key_seen;
    for (const auto& got : on_kafka.items()) ++per_key_seen[got.partitionkey];
    std::string seen;
    for (const auto& [key, n] : per_key_seen) seen += " " + key + "=" + std::to_string(n);
    const auto counts = bridge.counts();
    // Which events, and are they on the topic at all? A second group of
    // its own reads the topic from the start: an event it finds and the
    // reader did not was skipped by the reader. CI failed here twice with
    // 199 of 200; the second time the missing event was not on the topic
    // (a record produced before its partition's log existed: see
    // TopicAdmin::wait_until_ready).
    std::set<std::string> got_ids;
    for (const auto& got : on_kafka.items()) got_ids.insert(got.id);
    Recorder<std::string> on_check;
    auto check = run.kafka->subscribe(
        {.pattern = "order.#", .group = run.ns + "-check", .start = StartFrom::earliest},
        [&](const Envelope& e) { on_check.add(e.id); });
    const bool all_there = on_check.wait_for(published.size(), std::chrono::seconds(30));
    const auto there = on_check.items();
    std::string missing;
    for (const auto& e : published)
      if (!got_ids.count(e.id))
        missing += " " + e.partitionkey + "#" + std::to_string(e.payload().at("n").get<int>()) +
                   (std::count(there.begin(), there.end(), e.id) ? " (on the topic)" : " (not on the topic)");
    FAIL("the reader saw " << on_kafka.size() << " of " << published.size() << " within 60 s; per key:" << seen
                           << "; bridge forwarded " << counts.forwarded << ", failed " << counts.failed
                           << ", refused " << counts.refused << ", skipped " << counts.skipped_loop
                           << "; never seen:" << missing << "; a second group read " << there.size()
                           << (all_there ? " (all)" : ""));
  }
  REQUIRE(run.kafka->flush(std::chrono::seconds(30)));
  REQUIRE(bridge.stop(std::chrono::seconds(30)));

  std::map<std::string, Envelope> by_id;
  for (const auto& e : published) by_id[e.id] = e;
  std::map<std::string, int> times_seen;
  std::map<std::string, int> last_n;
  for (const auto& got : on_kafka.items()) {
    ++times_seen[got.id];
    auto it = by_id.find(got.id);
    REQUIRE(it != by_id.end());
    Envelope same = got;
    CHECK(same.extensions.at("heraldvia") == run.from_label + " " + run.ns + "-bridge>" + run.to_label);
    same.extensions.erase("heraldvia");
    CHECK(same == it->second);
    const int n = got.payload().at("n").get<int>();
    auto last = last_n.find(got.partitionkey);
    CHECK(n == (last == last_n.end() ? 0 : last->second + 1));
    last_n[got.partitionkey] = n;
  }
  CHECK(times_seen.size() == published.size());
  for (const auto& [id, times] : times_seen) CHECK(times == 1);
  CHECK(bridge.counts().forwarded == published.size());
  CHECK(bridge.counts().failed == 0);
}

TEST_CASE("a legacy service's snake_case event on RabbitMQ is bridged to Kafka as the same Envelope",
          "[bridge][rabbitmq][kafka][legacy]") {
  RabbitToKafka run;
  Recorder<Envelope> on_kafka;
  auto reader = run.kafka->subscribe({.pattern = "order.#", .group = run.ns + "-reader", .start = StartFrom::earliest},
                                     [&](const Envelope& e) { on_kafka.add(e); });
  Bridge bridge(*run.rabbit, *run.kafka, run.options());

  const std::string legacy = R"({
    "event_id": ")" + uuid_v7() + R"(", "event_type": "order.created", "timestamp": "2025-03-01T10:00:00.5+01:00",
    "version": 2, "payload": {"order_id": "42"},
    "metadata": {"correlation_id": "corr-9", "source_service": "orders-v1", "aggregate_id": "42",
                 "aggregate_type": "order", "user_id": "user:7"}})";
  RawBroker raw;
  raw.publish(run.exchange, "order.created", legacy);

  REQUIRE(on_kafka.wait_for(1, std::chrono::seconds(60)));
  Envelope got = on_kafka.items()[0];
  got.extensions.erase("heraldvia");
  CHECK(got == decode(legacy));
  // Counted once the bridge's publish returns, which the reader on Kafka may beat.
  CHECK(wait_until([&] { return bridge.counts().forwarded == 1; }));
}

TEST_CASE("bridges RabbitMQ → Kafka and Kafka → RabbitMQ carry each event across once and never back",
          "[bridge][rabbitmq][kafka][loop]") {
  RabbitToKafka run;
  Recorder<std::string> on_rabbit, on_kafka;
  auto rabbit_tap = run.rabbit->subscribe({.pattern = "order.#", .group = run.ns + "-tap"},
                                          [&](const Envelope& e) { on_rabbit.add(e.id); });
  auto kafka_tap = run.kafka->subscribe({.pattern = "order.#", .group = run.ns + "-tap", .start = StartFrom::earliest},
                                        [&](const Envelope& e) { on_kafka.add(e.id); });
  Bridge to_kafka(*run.rabbit, *run.kafka, run.options());
  // Earliest: the topic is this run's own; the bridge back must also see
  // what the first bridge writes there (and let it be).
  Bridge to_rabbit(*run.kafka, *run.rabbit,
                   {.pattern = "order.#", .group = run.ns + "-back", .from_label = run.to_label,
                    .to_label = run.from_label, .start = StartFrom::earliest});

  constexpr int each = 20;
  std::set<std::string> ids;
  for (int i = 0; i < each; ++i) {
    Envelope r = Envelope::make("order.created", {{"i", i}});
    r.partitionkey = "r-" + std::to_string(i % 4);
    Envelope k = Envelope::make("order.paid", {{"i", i}});
    k.partitionkey = "k-" + std::to_string(i % 4);
    ids.insert(r.id);
    ids.insert(k.id);
    run.rabbit->publish(std::move(r));
    run.kafka->publish(std::move(k));
  }

  REQUIRE(wait_until(
      [&] {
        auto a = to_kafka.counts(), b = to_rabbit.counts();
        return a.forwarded == each && a.skipped_loop == each && b.forwarded == each && b.skipped_loop == each;
      },
      std::chrono::seconds(60)));
  REQUIRE(on_rabbit.wait_for(ids.size(), std::chrono::seconds(60)));
  REQUIRE(on_kafka.wait_for(ids.size(), std::chrono::seconds(60)));
  // What was still in flight lands; then nothing more may come.
  for (int round = 0; round < 2; ++round) {
    REQUIRE(run.rabbit->flush(std::chrono::seconds(30)));
    REQUIRE(run.kafka->flush(std::chrono::seconds(30)));
  }
  REQUIRE(to_kafka.stop(std::chrono::seconds(30)));
  REQUIRE(to_rabbit.stop(std::chrono::seconds(30)));
  for (auto* side : {&on_rabbit, &on_kafka}) {
    auto seen = side->items();
    CHECK(seen.size() == ids.size());
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == ids);
  }
  CHECK(to_kafka.counts().forwarded == each);
  CHECK(to_rabbit.counts().forwarded == each);
}
