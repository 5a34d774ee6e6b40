#include "harness.hpp"
#include "wait.hpp"

namespace herald::test {

// Each namespace gets its own topics (herald-test.<ns>.<family>) on the
// shared broker. Group membership settles within a few heartbeats, and
// pattern subscriptions notice new topics within a second.
TransportUnderTest transport_under_test() {
  return {"kafka", [](const std::string& ns) {
            BusConfig c = BusConfig::from_url("kafka://" + env_or("HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:9092"));
            c.options["topic_prefix"] = "herald-test." + ns + ".";
            c.options["partitions"] = "3";
            c.options["kafka.consumer.heartbeat.interval.ms"] = "250";
            c.options["kafka.consumer.session.timeout.ms"] = "6000";
            c.options["kafka.consumer.topic.metadata.refresh.interval.ms"] = "1000";
            c.options["kafka.consumer.fetch.wait.max.ms"] = "50";
            c.options["kafka.producer.linger.ms"] = "1";
            return c;
          }};
}

}  // namespace herald::test
