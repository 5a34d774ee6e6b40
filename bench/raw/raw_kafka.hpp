#pragma once
// Plain librdkafka (C API) baseline, measured beside herald's own Kafka benchmark.
// Nothing here uses herald: it is what a hand-written client does on the same
// broker, topic layout and producer settings.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "raw_rate.hpp"

namespace herald::bench {

struct RawKafkaConfig {
  std::string brokers = "127.0.0.1:9092";
  std::string topic = "herald.bench.raw";
  int partitions = 3;
  // librdkafka producer properties, applied after bootstrap.servers.
  std::map<std::string, std::string> producer_props = {{"enable.idempotence","true"},{"acks","all"},{"linger.ms","5"},{"batch.num.messages","10000"}};
  // librdkafka consumer properties, applied after the baseline's defaults
  // (group.id = fresh, auto.offset.reset=earliest, enable.auto.commit=true,
  // enable.auto.offset.store=false), so any of them can be overridden.
  // With "enable.auto.commit"="false" the consumer commits asynchronously
  // every 1000 messages instead.
  std::map<std::string, std::string> consumer_props = {};
  // Parse every value as JSON (nlohmann) before storing its offset: what a
  // hand-written consumer does before its handler sees the event.
  bool parse_values = false;
  // Called with every value (after the headers are read, before the offset
  // is stored); what it returns counts as bytes handled, so no compiler can
  // drop the work. bench_kafka passes herald's decode: the work herald's
  // consumer does beside the delivery itself.
  std::function<std::size_t(const char* data, std::size_t size)> per_value;
  // Called as the first record arrives and once the last is consumed, while
  // the consumer's threads still run: the benchmark reads their CPU time.
  std::function<void()> on_first_record, on_last_record;
};

struct RawKafkaMessage { std::string key; std::string value; std::vector<std::pair<std::string, std::string>> headers; };

// Creates the topic (admin API, given partitions, replication 1) if missing.
// An existing topic is left as it is. Returns once every partition has a leader.
void raw_kafka_prepare(const RawKafkaConfig&);

// Produces every message (key, value, headers) and waits for all delivery reports;
// timed from first produce to last report. Throws on any delivery failure.
RawRate raw_kafka_produce(const RawKafkaConfig&, const std::vector<RawKafkaMessage>&);

// Consumes `count` messages from the topic with a fresh consumer group id
// (auto.offset.reset=earliest), storing each message's offset once it has been
// handled and committing them (auto commit of stored offsets, as an
// at-least-once bus does; a final synchronous commit after the clock stops);
// timed from first to last message. Throws when nothing arrives for 30 s.
RawRate raw_kafka_consume(const RawKafkaConfig&, std::size_t count);

// Publish -> delivery latency at a steady `rate` for `seconds`, herald's
// latency schedule without herald: ticks of 1 ms, each producing rate/1000
// records (key order-N, the value stamped with the steady clock) with
// config.producer_props; a consumer of a fresh group with
// config.consumer_props, on its own thread, takes one sample per record.
// Creates config.topic first (raw_kafka_prepare).
RawLatency raw_kafka_latency(const RawKafkaConfig& config, double rate, double seconds);

// Deletes the topics whose names start with one of `prefixes`, so repeated
// runs do not pile up data on the broker. Best effort: a failure is printed.
void raw_kafka_delete_topics(const std::string& brokers, const std::vector<std::string>& prefixes);

}  // namespace herald::bench
