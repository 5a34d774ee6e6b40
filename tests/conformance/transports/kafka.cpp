#include "harness.hpp"
#include "raw_kafka_client.hpp"
#include "test_options.hpp"

namespace herald::test {

namespace {

std::string topic_prefix(const std::string& ns) { return "herald-test." + ns + "."; }

BusConfig kafka_config(const std::string& ns) {
  BusConfig c = BusConfig::from_url("kafka://" + kafka_brokers());
  c.options["topic_prefix"] = topic_prefix(ns);
  c.options["partitions"] = "3";
  quick_kafka(c);
  c.options["kafka.consumer.topic.metadata.refresh.interval.ms"] = "1000";
  return c;
}

}  // namespace

// Each namespace gets its own topics (herald-test.<ns>.<family>) on the
// shared broker. Group membership settles within a few heartbeats, and
// pattern subscriptions notice new topics within a second.
TransportUnderTest kafka_transport() {
  TransportUnderTest t;
  t.name = "kafka";
  t.config = kafka_config;
  t.publish_raw = [](const std::string& ns, const std::string& type, const std::string& body) {
    // The family rule: order.created lives in <prefix>order.
    const std::string topic = topic_prefix(ns) + type.substr(0, type.find('.'));
    produce_raw(topic, "k1", body, {{"content-type", "application/cloudevents+json"}});
    return ForeignRecord{.topic = topic, .has_offset = true};
  };
  t.consumer = [](const std::string& ns) {
    BusConfig c = kafka_config(ns);
    // Takes few records at a time, so a kill lands with most still to do.
    c.options["max_in_flight"] = "50";
    return consumer_command(url_of(c));
  };
  return t;
}

}  // namespace herald::test
