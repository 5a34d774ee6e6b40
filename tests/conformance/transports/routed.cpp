// The suite on a routed bus: some families on memory, the rest on RabbitMQ
// (HERALD_TEST_AMQP_URL), so every test runs through the route table and
// several (patterns, dead letters, context) cross both transports at once.

#include <catch2/catch.hpp>

#include "fixture.hpp"
#include "harness.hpp"
#include "herald/routed_bus.hpp"

namespace herald::test {

namespace {

const std::string memory_target = "memory://?workers=4";

}  // namespace

TransportUnderTest routed_transport() {
  TransportUnderTest t;
  t.name = "routed";
  t.config = [](const std::string& ns) {
    // The RabbitMQ transport's test options, in its URL's query.
    const std::string amqp = url_of(rabbitmq_transport().config(ns));
    BusConfig c;
    c.routes = {
        // A handler of cart.checked_out (memory) publishes this to RabbitMQ.
        {.match = "cart.converted", .publish = {amqp}},
        {.match = "order.#", .publish = {memory_target}},
        {.match = "invoice.#", .publish = {memory_target}},
        {.match = "account.#", .publish = {memory_target}},
        {.match = "cart.#", .publish = {memory_target}},
        {.match = "cache.#", .publish = {memory_target}},
        {.match = "#", .publish = {amqp}},
    };
    return c;
  };
  return t;
}

}  // namespace herald::test

using namespace herald;
using namespace herald::test;

TEST_CASE("the routed suite's families travel on both of its targets", "[conformance][routes]") {
  BusFixture f;
  auto& routed = dynamic_cast<RoutedBus&>(*f.bus);
  const std::string amqp = routed.routes().back().publish.front();
  CHECK(f.features.name == "routed(rabbitmq+memory)");  // in the order the routes first name them
  // The families the suite's tests publish, by the target their route names.
  for (const char* type : {"order.created", "order", "invoice.issued", "account.debited", "cart.checked_out",
                           "cache.invalidated"}) {
    INFO(type);
    CHECK(routed.route_for(type)->publish == std::vector<std::string>{memory_target});
  }
  for (const char* type : {"payment.captured", "payment.failed", "stock.moved", "task.created", "parcel.shipped",
                           "email.requested", "shipment.created", "sync.requested", "refund.requested",
                           "report.generated", "ping.sent", "job.queued", "audit.logged", "blob.stored",
                           "cart.converted"}) {
    INFO(type);
    CHECK(routed.route_for(type)->publish == std::vector<std::string>{amqp});
  }
  // And the events really go there.
  Recorder<std::string> got;
  auto sub = f.bus->subscribe({.pattern = "#", .group = f.group("all")}, [&](const Envelope& e) { got.add(e.type); });
  f.bus->publish(Envelope::make("order.created", {{"n", 1}}));
  f.bus->publish(Envelope::make("payment.captured", {{"n", 2}}));
  REQUIRE(got.wait_for(2, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(routed.target(memory_target).metrics().snapshot().published.at("order.created") == 1);
  CHECK(routed.target(amqp).metrics().snapshot().published.at("payment.captured") == 1);
  CHECK(routed.target(memory_target).metrics().snapshot().total_published() == 1);
  CHECK(routed.target(amqp).metrics().snapshot().total_published() == 1);
}
