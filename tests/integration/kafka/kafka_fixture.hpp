#pragma once
// A Kafka bus for one test, in its own topic namespace on the shared broker.

#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include "herald/config.hpp"
#include "raw_kafka_client.hpp"
#include "wait.hpp"

namespace herald::test {

inline BusConfig kafka_config(const std::string& ns, const std::map<std::string, std::string>& extra = {}) {
  BusConfig c = BusConfig::from_url("kafka://" + kafka_brokers());
  c.options["topic_prefix"] = "herald-it." + ns + ".";
  c.options["kafka.consumer.heartbeat.interval.ms"] = "250";
  c.options["kafka.consumer.session.timeout.ms"] = "6000";
  c.options["kafka.consumer.fetch.wait.max.ms"] = "50";
  c.options["kafka.producer.linger.ms"] = "1";
  for (const auto& [k, v] : extra) c.options[k] = v;
  return c;
}

struct KafkaFixture {
  KafkaFixture() : KafkaFixture({}) {}
  KafkaFixture(std::initializer_list<std::pair<const std::string, std::string>> extra)
      : ns(unique_name("it")), bus(make_bus(kafka_config(ns, extra))) {}
  std::string topic(const std::string& family) const { return "herald-it." + ns + "." + family; }
  std::string group(const std::string& name) const { return ns + "-" + name; }
  std::string ns;
  std::unique_ptr<EventBus> bus;
};

inline constexpr std::chrono::seconds deadline{30};

inline RetryPolicy quick_retry(int attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_delay = std::chrono::milliseconds(20);
  p.max_delay = std::chrono::milliseconds(200);
  p.jitter = 0.0;
  return p;
}

}  // namespace herald::test
