// The suite on a routed bus in its dual-publish phase: every family is
// published to memory and to RabbitMQ (HERALD_TEST_AMQP_URL) and read from
// both, so every test sees each event twice and must see it handled once per
// group (cross-target dedup), in order per key.

#include <catch2/catch.hpp>

#include "fixture.hpp"
#include "harness.hpp"
#include "herald/routed_bus.hpp"

namespace herald::test {

TransportUnderTest dual_transport() {
  TransportUnderTest t;
  t.name = "dual";
  t.config = [](const std::string& ns) {
    const std::string amqp = url_of(rabbitmq_transport().config(ns));
    BusConfig c;
    c.routes = {{.match = "#", .publish = {"memory://?workers=4", amqp}}};
    return c;
  };
  return t;
}

}  // namespace herald::test
