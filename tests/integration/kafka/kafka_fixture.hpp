#pragma once
// A Kafka bus for one test, in its own topic namespace on the shared broker.

#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include "herald/config.hpp"
#include "raw_kafka_client.hpp"
#include "test_options.hpp"
#include "wait.hpp"

namespace herald::test {

inline BusConfig kafka_config(const std::string& ns, const std::map<std::string, std::string>& extra = {}) {
  BusConfig c = BusConfig::from_url("kafka://" + kafka_brokers());
  c.options["topic_prefix"] = "herald-it." + ns + ".";
  quick_kafka(c);
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

}  // namespace herald::test
