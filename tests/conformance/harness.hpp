#pragma once
// The conformance suite: one set of test bodies, compiled once per transport.
// Each conformance binary links the transports/*.cpp it needs and
// under_test.cpp, which returns the one it tests (HERALD_CONFORMANCE_TRANSPORT,
// an expression such as `outbox_over(rabbitmq_transport())`).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/bus.hpp"
#include "herald/config.hpp"

namespace herald::test {

/// Where a foreign producer's record went, as the dead letter of it says.
struct ForeignRecord {
  std::string routing_key;  // what the transport routed it by ("" where it keeps none)
  std::string topic;        // the topic it was written to ("" where there are no topics)
  bool has_offset = false;  // whether the transport numbers records (then the dead letter has an offset >= 0)
};

struct TransportUnderTest {
  std::string name;
  /// Config for a fresh bus isolated in namespace `ns` (a unique word made of
  /// [a-z0-9-]): brokers keep state between tests, so each test gets its own
  /// exchange / topic prefix. Two buses made with the same `ns` see each
  /// other's events (used by the multi-process and restart tests).
  std::function<BusConfig(const std::string& ns)> config;
  /// The bus for `config` (from config(ns), perhaps changed by the test).
  /// make_bus, unless the transport is a decorator around another bus.
  std::function<std::unique_ptr<EventBus>(const std::string& ns, const BusConfig& config)> open =
      [](const std::string&, const BusConfig& c) { return make_bus(c); };
  /// Writes `body` (not an envelope) as a record of type `type` in namespace
  /// `ns` the way a producer that is not herald would: plain librdkafka,
  /// plain rabbitmq-c. Set where Features::foreign_bytes holds.
  std::function<ForeignRecord(const std::string& ns, const std::string& type, const std::string& body)> publish_raw;
  /// The command line of a consumer of namespace `ns` in another process
  /// (conformance_consumer and its first arguments; see consumer_process.cpp).
  /// Set where Features::broker holds.
  std::function<std::vector<std::string>(const std::string& ns)> consumer;
  /// For a decorator (OutboxBus): the transport bus below `bus`, which
  /// delivers, retries and counts retries (Features::retry_metrics false).
  /// Null for a transport.
  std::function<EventBus&(EventBus& bus)> below;
};

TransportUnderTest transport_under_test();

/// The transports (transports/*.cpp) and decorators over them.
TransportUnderTest memory_transport();
TransportUnderTest rabbitmq_transport();
TransportUnderTest kafka_transport();
/// Some families on memory, the rest on RabbitMQ, through a route table.
TransportUnderTest routed_transport();
/// Every family published to memory and RabbitMQ, read from both (dual.cpp).
TransportUnderTest dual_transport();
/// `inner` behind an OutboxBus with an in-process relay, over a scratch
/// event store per namespace: PostgreSQL at HERALD_TEST_PG_URL when
/// `postgres`, else SQLite.
TransportUnderTest outbox_over(TransportUnderTest inner, bool postgres = false);

/// `config` as one URL (options in its query), for a child process.
std::string url_of(const BusConfig& config);
/// conformance_consumer for `url` (and an outbox over `store_url` when not empty).
std::vector<std::string> consumer_command(const std::string& url, const std::string& store_url = {});

}  // namespace herald::test
