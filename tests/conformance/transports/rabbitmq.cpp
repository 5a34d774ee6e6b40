#include "harness.hpp"
#include "test_options.hpp"

namespace herald::test {

// HERALD_TEST_AMQP_URL picks the broker. Each namespace gets its own exchange
// and queue prefix; the broker deletes the queues some minutes after the test.
TransportUnderTest transport_under_test() {
  return {"rabbitmq", [](const std::string& ns) {
            BusConfig c = BusConfig::from_url(amqp_url());
            c.options["exchange"] = "herald.test." + ns;
            c.options["queue_prefix"] = "herald.test.";
            c.options["queue_expires"] = "10m";
            c.options["dead_letter_expires"] = "10m";
            c.options["amqp.connection_name"] = "conformance " + ns;
            return c;
          }};
}

}  // namespace herald::test
