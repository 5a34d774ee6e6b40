#include "harness.hpp"
#include "raw_broker.hpp"
#include "test_options.hpp"

namespace herald::test {

namespace {

BusConfig rabbitmq_config(const std::string& ns) {
  BusConfig c = BusConfig::from_url(amqp_url());
  c.options["exchange"] = "herald.test." + ns;
  c.options["queue_prefix"] = "herald.test.";
  c.options["queue_expires"] = "10m";
  c.options["dead_letter_expires"] = "10m";
  c.options["amqp.connection_name"] = "conformance " + ns;
  return c;
}

}  // namespace

// HERALD_TEST_AMQP_URL picks the broker. Each namespace gets its own exchange
// and queue prefix; the broker deletes the queues some minutes after the test.
TransportUnderTest rabbitmq_transport() {
  TransportUnderTest t;
  t.name = "rabbitmq";
  t.config = rabbitmq_config;
  t.publish_raw = [](const std::string& ns, const std::string& type, const std::string& body) {
    RawBroker raw;
    raw.publish("herald.test." + ns, type, body);
    return ForeignRecord{.routing_key = type};
  };
  t.consumer = [](const std::string& ns) { return consumer_command(url_of(rabbitmq_config(ns))); };
  return t;
}

}  // namespace herald::test
