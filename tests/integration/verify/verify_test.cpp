// Shadow verification across brokers, as a migration from RabbitMQ to Kafka
// runs it: a routed bus publishes each order event to both, and the verifier
// reads both with groups of its own.

#include <catch2/catch.hpp>

#include "herald/config.hpp"
#include "herald/shadow_verify.hpp"
#include "raw_broker.hpp"
#include "test_options.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;

namespace {

// One namespace per test: its own exchange and Kafka topics on the shared
// brokers. The broker deletes the queues a while after the test.
struct Migration {
  std::string ns = unique_name("verify");
  std::string exchange = "herald.test." + ns;
  std::string old_url = amqp_url() + "?exchange=" + exchange +
                        "&queue_prefix=herald.test.&queue_expires=10m&dead_letter_expires=10m";
  std::string new_url = "kafka://" + kafka_brokers() + "?topic_prefix=herald-test." + ns +
                        ".&partitions=3&kafka.consumer.fetch.wait.max.ms=50&kafka.producer.linger.ms=1"
                        "&kafka.consumer.heartbeat.interval.ms=250&kafka.consumer.session.timeout.ms=6000"
                        "&kafka.consumer.topic.metadata.refresh.interval.ms=1000";
  std::unique_ptr<EventBus> old_bus = make_bus(old_url);
  std::unique_ptr<EventBus> new_bus = make_bus(new_url);

  // The service's bus: order events published to both (dual publish).
  std::unique_ptr<EventBus> dual_publisher() {
    BusConfig c;
    c.source = "/orders";
    c.routes = {{.match = "order.#", .publish = {old_url, new_url}}};
    return make_bus(c);
  }
  ShadowVerifyOptions options(std::size_t events) const {
    return {.pattern = "order.#", .duration = 60s, .events = events, .grace = 2s, .old_name = "rabbitmq",
            .new_name = "kafka"};
  }
};

Envelope order(const std::string& type, const std::string& key, int n) {
  Envelope e = Envelope::make(type, {{"order_id", key}, {"n", n}});
  e.partitionkey = key;
  return e;
}

}  // namespace

TEST_CASE("dual publish to RabbitMQ and Kafka verifies clean, and an event on RabbitMQ only is reported",
          "[verify][rabbitmq][kafka]") {
  Migration m;
  auto service = m.dual_publisher();
  // Makes the Kafka topic and the exchange before anyone listens: what it
  // carries is older than the verifier's window either way.
  service->publish(order("order.created", "warm-up", 0));

  constexpr int keys = 6, per_key = 10;
  {
    ShadowVerifier verify(*m.old_bus, *m.new_bus, m.options(keys * per_key));
    verify.start();
    std::vector<Envelope> events;
    for (int i = 0; i < per_key; ++i)
      for (int k = 0; k < keys; ++k)
        events.push_back(order(i == 0 ? "order.created" : "order.updated", "k" + std::to_string(k), i));
    service->publish(events);
    REQUIRE(verify.wait(deadline));
    ShadowReport r = verify.finish();
    INFO(r.to_json().dump(2));
    CHECK(r.clean());
    CHECK(r.compared == keys * per_key);
    CHECK(r.old_side.events == keys * per_key);
    CHECK(r.new_side.events == keys * per_key);
    CHECK(r.old_side.lag.samples == keys * per_key);
    CHECK(r.new_side.lag.samples == keys * per_key);
  }
  {
    ShadowVerifier verify(*m.old_bus, *m.new_bus, m.options(5));
    verify.start();
    Envelope old_only = order("order.cancelled", "k1", 99);
    m.old_bus->publish(old_only);  // a producer still on the old transport alone
    for (int i = 0; i < 5; ++i) service->publish(order("order.updated", "k2", 100 + i));
    REQUIRE(verify.wait(deadline));
    ShadowReport r = verify.finish();
    INFO(r.to_json().dump(2));
    CHECK_FALSE(r.clean());
    CHECK(r.only_old.count == 1);
    CHECK(r.only_old.ids == std::vector<std::string>{old_only.id});
    CHECK(r.only_new.count == 0);
    CHECK(r.compared == 5);
  }
}

TEST_CASE("a legacy service's snake_case event on RabbitMQ equals its CloudEvents copy on Kafka",
          "[verify][rabbitmq][kafka][legacy]") {
  Migration m;
  m.new_bus->publish(order("order.created", "warm-up", 0));  // makes the topic
  ShadowVerifier verify(*m.old_bus, *m.new_bus, m.options(1));
  verify.start();

  Envelope cloud = order("order.created", "42", 1);
  cloud.source = "/orders";
  const std::string legacy = nlohmann::json{{"event_id", cloud.id},
                                            {"event_type", cloud.type},
                                            {"timestamp", format_time(cloud.time)},
                                            {"version", 1},
                                            {"payload", {{"n", 1}, {"order_id", "42"}}},
                                            {"metadata", {{"source_service", "/orders"}, {"partition_key", "42"}}}}
                                 .dump();
  RawBroker raw;
  raw.publish(m.exchange, cloud.type, legacy);  // plain rabbitmq-c, as the legacy service writes
  m.new_bus->publish(cloud);

  REQUIRE(verify.wait(deadline));
  ShadowReport r = verify.finish();
  INFO(r.to_json().dump(2));
  CHECK(r.clean());
  CHECK(r.compared == 1);
  CHECK(r.mismatched.count == 0);
}
