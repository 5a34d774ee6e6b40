#include <catch2/catch.hpp>

#include "herald/config.hpp"
#include "herald/metrics.hpp"

using namespace herald;

TEST_CASE("the bus counts published, delivered, failed, retried and dead-lettered per type and group", "[metrics]") {
  auto clock = std::make_shared<ManualScheduler>();
  BusConfig config = BusConfig::from_url("memory://?dispatch=inline");
  config.scheduler = clock;
  auto bus = make_bus(config);
  auto ok = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [](const Envelope&) {});
  auto bad = bus->subscribe({.pattern = "order.*", .group = "flaky", .retry = {.max_attempts = 2}},
                            [](const Envelope&) { throw std::runtime_error("down"); });
  bus->publish(Envelope::make("order.created"));
  clock->advance(std::chrono::seconds(60));
  auto s = bus->metrics().snapshot();
  CHECK(s.published.at("order.created") == 1);
  auto mailer = s.consumed.at({"order.created", "mailer"});
  CHECK(mailer.delivered == 1);
  CHECK(mailer.latency.count == 1);
  auto flaky = s.consumed.at({"order.created", "flaky"});
  CHECK(flaky.failed_attempts == 2);
  CHECK(flaky.retried == 1);
  CHECK(flaky.dead_lettered == 1);
  std::string text = bus->metrics().prometheus();
  CHECK_THAT(text, Catch::Contains("event_dead_letter_total{type=\"order.created\",group=\"flaky\"} 1"));
  CHECK_THAT(text, Catch::Contains("event_dispatch_latency_count{type=\"order.created\",group=\"mailer\"} 1"));
  CHECK_THAT(text, Catch::Contains("event_dispatch_failures_total{type=\"order.created\",group=\"flaky\"} 2"));
}
