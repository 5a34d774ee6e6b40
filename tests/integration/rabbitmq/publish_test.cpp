#include <catch2/catch.hpp>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "herald/tracing.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("publish returns once the broker has the event", "[rabbitmq][publish][confirms]") {
  const std::string ns = unique_name("pub");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-store";
  { auto sub = bus->subscribe({.pattern = "stock.#", .group = group}, [](const Envelope&) {}); }
  RawBroker raw;
  const std::string queue = "herald.it." + group;

  Envelope e = Envelope::make("stock.moved", {{"sku", "A1"}}, "/stock");
  e.partitionkey = "A1";
  bus->publish(e);
  CHECK(raw.count(queue) == 1u);  // confirmed means stored: no waiting needed

  std::vector<Envelope> batch;
  for (int i = 0; i < 500; ++i) batch.push_back(Envelope::make("stock.counted", {{"i", i}}));
  bus->publish(batch);
  CHECK(raw.count(queue) == 501u);

  auto m = raw.get(queue);
  REQUIRE(m);
  CHECK(m->routing_key == "stock.moved");
  CHECK(m->message_id == e.id);
  CHECK(m->content_type == "application/cloudevents+json");
  CHECK(m->headers["x-herald-partitionkey"] == "A1");
  CHECK(decode(m->body) == e);
}

TEST_CASE("the trace context is an AMQP header too, beside the body's", "[rabbitmq][publish][trace]") {
  const std::string ns = unique_name("pub");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-traced";
  { auto sub = bus->subscribe({.pattern = "stock.#", .group = group}, [](const Envelope&) {}); }
  RawBroker raw;
  const std::string queue = "herald.it." + group;
  const trace::SpanContext caller = trace::child_of({});
  {
    trace::Scope scope(caller);
    bus->publish(Envelope::make("stock.moved", {{"sku", "A1"}}));
  }
  auto m = raw.get(queue);
  REQUIRE(m);
  const Envelope sent = decode(m->body);
  CHECK(trace::parse_traceparent(sent.traceparent).trace_id == caller.trace_id);
  CHECK(m->headers["traceparent"] == sent.traceparent);
}

TEST_CASE("with unroutable=error an event no queue is bound for fails with its routing key",
          "[rabbitmq][publish][unroutable]") {
  const std::string ns = unique_name("pub");
  auto bus = make_bus(isolated_config(ns, {{"unroutable", "error"}}));
  CHECK_THROWS_AS(bus->publish(Envelope::make("nobody.listens", {})), PublishError);
  CHECK_THROWS_WITH(bus->publish(Envelope::make("nobody.listens", {})), Catch::Contains("'nobody.listens'"));

  const std::string group = ns + "-some";
  auto sub = bus->subscribe({.pattern = "some.*", .group = group}, [](const Envelope&) {});
  CHECK_NOTHROW(bus->publish(Envelope::make("some.thing", {})));
  std::vector<Envelope> mixed{Envelope::make("some.thing", {}), Envelope::make("other.thing", {})};
  CHECK_THROWS_WITH(bus->publish(mixed), Catch::Contains("'other.thing'"));
}

TEST_CASE("unroutable events are kept aside by default and dropped on request", "[rabbitmq][publish][unroutable]") {
  RawBroker raw;
  SECTION("keep") {
    const std::string ns = unique_name("pub");
    auto bus = make_bus(isolated_config(ns));
    bus->publish(Envelope::make("nobody.listens", {}));
    CHECK(raw.count("herald.it." + ns + ".unroutable") == 1u);
  }
  SECTION("drop") {
    const std::string ns = unique_name("pub");
    auto bus = make_bus(isolated_config(ns, {{"unroutable", "drop"}}));
    CHECK_NOTHROW(bus->publish(Envelope::make("nobody.listens", {})));
    CHECK_FALSE(raw.count("herald.it." + ns + ".unroutable"));
  }
}

TEST_CASE("a publish the broker refuses (basic.nack) is a publish error", "[rabbitmq][publish][confirms]") {
  const std::string ns = unique_name("pub");
  auto bus = make_bus(isolated_config(ns, {{"unroutable", "drop"}}));
  RawBroker raw;
  const std::string queue = "herald.it." + ns + "-full";
  raw.declare_queue(queue, {{"x-max-length", 1LL}, {"x-overflow", std::string("reject-publish")}, {"x-expires", 600000LL}});
  raw.bind(queue, "herald.it." + ns, "tank.#");
  bus->publish(Envelope::make("tank.filled", {{"n", 1}}));
  CHECK_THROWS_WITH(bus->publish(Envelope::make("tank.filled", {{"n", 2}})),
                    Catch::Contains("basic.nack") && Catch::Contains("'tank.filled'"));
}

TEST_CASE("a URL with several hosts connects to one that answers", "[rabbitmq][publish][cluster]") {
  const std::string ns = unique_name("hosts");
  Url u = Url::parse(amqp_url());
  const std::string live = u.host + ":" + std::to_string(u.port ? u.port : 5672);
  const std::string dead = "127.0.0.1:1";  // refuses connections
  const std::string hosts = GENERATE_REF(as<std::string>{}, dead + "," + live, live + "," + dead);
  INFO("hosts " << hosts);
  BusConfig c = isolated_config(ns, {{"connect_timeout", "2s"}});
  c.url = "amqp://" + u.user + ":" + u.password + "@" + hosts + "/";
  std::unique_ptr<EventBus> bus;
  REQUIRE_NOTHROW(bus = make_bus(c));
  Recorder<std::string> got;
  auto sub = bus->subscribe({.pattern = "x.*", .group = ns + "-g"}, [&](const Envelope& e) { got.add(e.id); });
  bus->publish(Envelope::make("x.y", {}));
  CHECK(got.wait_for(1, std::chrono::seconds(20)));

  c.url = "amqp://" + u.user + ":" + u.password + "@" + dead + ",127.0.0.1:2/";
  CHECK_THROWS_AS(make_bus(c), TransportError);
}
