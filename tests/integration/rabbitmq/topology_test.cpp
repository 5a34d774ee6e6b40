#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("subscribing declares a durable group queue bound with the pattern", "[rabbitmq][topology]") {
  const std::string ns = unique_name("topo");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-billing";
  {
    auto sub = bus->subscribe({.pattern = "order.*", .group = group}, [](const Envelope&) {});
  }
  // Nobody consumes now: what the binding routes stays in the queue.
  bus->publish(Envelope::make("order.created", {{"n", 1}}));
  bus->publish(Envelope::make("order.item.added", {{"n", 2}}));  // '*' is one word: not routed
  bus->publish(Envelope::make("payment.captured", {{"n", 3}}));

  RawBroker raw;
  CHECK(raw.count("herald.it." + group) == 1u);
  // Unroutable events are kept (unroutable=keep is the default).
  CHECK(raw.count("herald.it." + ns + ".unroutable") == 2u);
  auto m = raw.get("herald.it." + group);
  REQUIRE(m);
  CHECK(m->routing_key == "order.created");
}

TEST_CASE("declarations are idempotent across buses and members", "[rabbitmq][topology]") {
  const std::string ns = unique_name("topo");
  auto a = make_bus(isolated_config(ns));
  auto b = make_bus(isolated_config(ns));
  const std::string group = ns + "-audit";
  Recorder<std::string> got;
  auto s1 = a->subscribe({.pattern = "audit.#", .group = group}, [&](const Envelope& e) { got.add(e.id); });
  auto s2 = b->subscribe({.pattern = "audit.#", .group = group}, [&](const Envelope& e) { got.add(e.id); });
  auto s3 = b->subscribe({.pattern = "report.*", .group = group}, [&](const Envelope& e) { got.add(e.id); });
  a->publish(Envelope::make("audit.logged", {{"n", 1}}));
  a->publish(Envelope::make("report.generated", {{"n", 2}}));
  REQUIRE(got.wait_for(2, std::chrono::seconds(20)));
  REQUIRE(a->flush(std::chrono::seconds(20)));
  REQUIRE(b->flush(std::chrono::seconds(20)));
  CHECK(got.size() == 2);
}

TEST_CASE("a quorum group queue works end to end and a conflicting declaration names the queue",
          "[rabbitmq][topology][quorum]") {
  const std::string ns = unique_name("quorum");
  auto quorum = make_bus(isolated_config(ns, {{"queue_type", "quorum"}}));
  const std::string group = ns + "-ledger";
  Recorder<std::string> got;
  std::atomic<int> calls{0};
  RetryPolicy retry;
  retry.max_attempts = 2;
  retry.initial_delay = std::chrono::milliseconds(10);
  retry.jitter = 0;
  auto sub = quorum->subscribe({.pattern = "ledger.*", .group = group, .retry = retry}, [&](const Envelope& e) {
    if (++calls == 1) throw std::runtime_error("first try fails");
    got.add(e.id);
  });
  Envelope e = Envelope::make("ledger.posted", {{"n", 1}});
  quorum->publish(e);
  REQUIRE(got.wait_for(1, std::chrono::seconds(20)));
  CHECK(got.items().front() == e.id);
  CHECK(calls == 2);

  auto classic = make_bus(isolated_config(ns, {{"queue_type", "classic"}}));
  CHECK_THROWS_WITH(classic->subscribe({.pattern = "ledger.*", .group = group}, [](const Envelope&) {}),
                    Catch::Contains("herald.it." + group) && Catch::Contains("x-queue-type") &&
                        Catch::Contains("queue_type"));
}

TEST_CASE("with queue_type=quorum the delay, dead-letter, redelivered and unroutable queues are quorum too",
          "[rabbitmq][topology][quorum]") {
  // A classic queue lives on one node: on a cluster, losing that node would
  // stop the bus (tests/reliability/cluster). Declaring each queue again with
  // herald's arguments but without x-queue-type works on a classic queue and
  // is refused, naming x-queue-type, on a quorum one.
  const std::string ns = unique_name("quorum-aux");
  auto bus = make_bus(isolated_config(ns, {{"queue_type", "quorum"}, {"unroutable_max", "1000"}}));
  const std::string group = ns + "-ledger";
  const std::string queue = "herald.it." + group;
  RetryPolicy retry;
  retry.max_attempts = 2;
  retry.initial_delay = std::chrono::milliseconds(10);
  retry.jitter = 0;
  auto sub = bus->subscribe({.pattern = "ledger.*", .group = group, .retry = retry},
                            [](const Envelope&) { throw std::runtime_error("always fails"); });
  bus->publish(Envelope::make("ledger.posted", {{"n", 1}}));
  REQUIRE(wait_until([&] { return !bus->dead_letters(group).empty(); }, std::chrono::seconds(20)));

  const long long expires = 10 * 60 * 1000;  // isolated_config: 10m
  RawBroker raw;
  auto type_of_classic_declaration_refused = [&](const std::string& name, const RawBroker::Table& arguments) {
    try {
      raw.declare_queue(name, arguments);
      return std::string("accepted: '" + name + "' is classic");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
  CHECK_THAT(type_of_classic_declaration_refused("herald.it." + ns + ".unroutable", {{"x-max-length", 1000LL},
                                                                      {"x-overflow", std::string("reject-publish")},
                                                                      {"x-expires", expires}}),
             Catch::Contains("x-queue-type"));
  CHECK_THAT(type_of_classic_declaration_refused(queue + ".redelivered", {{"x-expires", expires}}),
             Catch::Contains("x-queue-type"));
  CHECK_THAT(type_of_classic_declaration_refused(queue + ".dlq", {{"x-expires", expires}}),
             Catch::Contains("x-queue-type"));
  CHECK_THAT(type_of_classic_declaration_refused(queue + ".retry.1", {{"x-dead-letter-exchange", std::string()},
                                                                     {"x-dead-letter-routing-key", queue},
                                                                     {"x-expires", expires}}),
             Catch::Contains("x-queue-type"));
}

TEST_CASE("with queue_type=quorum, unroutable and redelivered queues an earlier version made classic are used as they are",
          "[rabbitmq][topology][quorum]") {
  const std::string ns = unique_name("quorum-old");
  const std::string group = ns + "-ledger";
  const long long expires = 10 * 60 * 1000;  // isolated_config: 10m
  RawBroker raw;
  raw.declare_queue("herald.it." + group + ".redelivered", {{"x-expires", expires}});
  raw.declare_queue("herald.it." + ns + ".unroutable",
                    {{"x-max-length", 1000LL}, {"x-overflow", std::string("reject-publish")}, {"x-expires", expires}});
  auto bus = make_bus(isolated_config(ns, {{"queue_type", "quorum"}, {"unroutable_max", "1000"}}));
  Recorder<std::string> got;
  auto sub = bus->subscribe({.pattern = "ledger.*", .group = group}, [&](const Envelope& e) { got.add(e.id); });
  Envelope e = Envelope::make("ledger.posted", {{"n", 1}});
  bus->publish(e);
  bus->publish(Envelope::make("nobody.listens", {{"n", 2}}));
  REQUIRE(got.wait_for(1, std::chrono::seconds(20)));
  CHECK(got.items().front() == e.id);
  CHECK(wait_until([&] { return raw.count("herald.it." + ns + ".unroutable").value_or(0) == 1u; }, std::chrono::seconds(10)));
}

TEST_CASE("an exchange declared with other settings is refused with a clear error", "[rabbitmq][topology]") {
  const std::string ns = unique_name("topo");
  auto plain = make_bus(isolated_config(ns, {{"unroutable", "drop"}}));
  CHECK_THROWS_WITH(make_bus(isolated_config(ns, {{"unroutable", "keep"}})),
                    Catch::Contains("herald.it." + ns) && Catch::Contains("alternate"));
}
