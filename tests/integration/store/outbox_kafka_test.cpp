// Order per aggregate must survive the trip through the outbox and a
// partitioned transport: the relay keeps an aggregate's rows in order, and
// the partition key (defaulted to the aggregate id at append) keeps them on
// one partition and one lane.

#include <catch2/catch.hpp>

#include <mutex>
#include <numeric>

#include "herald/config.hpp"
#include "herald/outbox.hpp"
#include "scratch_store.hpp"
#include "test_options.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("one aggregate's events go through the outbox to a 3-partition Kafka topic and are handled in append order",
          "[outbox][kafka][ordering]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  const std::string ns = unique_name("outbox-order");
  BusConfig transport = BusConfig::from_url("kafka://" + kafka_brokers());
  transport.options["topic_prefix"] = "herald-it." + ns + ".";
  transport.options["partitions"] = "3";
  quick_kafka(transport);
  OutboxBusOptions options;
  options.relay.interval = milliseconds(10);
  options.relay.batch_size = 10;  // many small batches, as a busy relay sends them
  auto bus = make_outbox_bus(transport, scratch.url(), options);

  std::mutex mutex;
  std::vector<int> handled;
  auto sub = bus->subscribe({.pattern = "order.#", .group = ns + "-audit", .concurrency = 4}, [&](const Envelope& e) {
    std::lock_guard lock(mutex);
    handled.push_back(e.payload().at("n").get<int>());
  });

  constexpr int total = 200;
  for (int n = 0; n < total; ++n) {
    // As docs/outbox.md shows it: aggregate type and id, no partition key.
    Envelope e = Envelope::make("order.updated", {{"order_id", "42"}, {"n", n}}, "orders");
    e.aggregatetype = "order";
    e.aggregateid = "42";
    bus->publish(e);
  }
  REQUIRE(bus->flush(seconds(60)));
  bool all = wait_until([&] {
    std::lock_guard lock(mutex);
    return handled.size() >= static_cast<std::size_t>(total);
  }, seconds(60));
  std::lock_guard lock(mutex);
  INFO("handled " << handled.size() << " events");
  REQUIRE(all);
  std::vector<int> expected(total);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(handled == expected);
}
