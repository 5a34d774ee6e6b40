#include "harness.hpp"
#include "test_options.hpp"

namespace herald::test {

// Each namespace gets its own topics (herald-test.<ns>.<family>) on the
// shared broker. Group membership settles within a few heartbeats, and
// pattern subscriptions notice new topics within a second.
TransportUnderTest transport_under_test() {
  return {"kafka", [](const std::string& ns) {
            BusConfig c = BusConfig::from_url("kafka://" + kafka_brokers());
            c.options["topic_prefix"] = "herald-test." + ns + ".";
            c.options["partitions"] = "3";
            quick_kafka(c);
            c.options["kafka.consumer.topic.metadata.refresh.interval.ms"] = "1000";
            return c;
          }};
}

}  // namespace herald::test
