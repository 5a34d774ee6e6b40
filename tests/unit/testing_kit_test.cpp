#include <catch2/catch.hpp>

#include <cstdlib>
#include <stdexcept>

#include "herald/testing/harness.hpp"
#include "herald/testing/isolation.hpp"

using namespace herald;
using herald::testing::Harness;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

RetryPolicy every_second(int attempts) {
  return {.max_attempts = attempts, .initial_delay = seconds(1), .multiplier = 2.0, .max_delay = seconds(10), .jitter = 0.0};
}

}  // namespace

TEST_CASE("the harness counts from its start, not from the bus's", "[testing]") {
  auto bus = make_bus("memory://");
  bus->publish(Envelope::make("order.created"));
  Harness h(*bus);
  CHECK(h.published("order.created").count() == 0);
  bus->publish(Envelope::make("order.created"));
  bus->publish(Envelope::make("order.paid"));
  CHECK(h.published("order.created").count() == 1);
  CHECK(h.published().count() == 2);
}

TEST_CASE("a wait succeeds once the handler ran and times out when it never does", "[testing]") {
  Harness h(BusConfig{.url = "memory://"});
  auto sub = h.bus().subscribe({.pattern = "order.paid", .group = "loyalty"}, [](const Envelope&) {});
  h.bus().publish(Envelope::make("order.paid"));
  CHECK(h.consumed("order.paid", "loyalty").wait_for(1, seconds(5)));
  CHECK(h.consumed("order.paid", "mailer").count() == 0);

  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(h.consumed("order.paid", "loyalty").wait_for(2, milliseconds(100)));
  CHECK(std::chrono::steady_clock::now() - start >= milliseconds(100));  // waited out its deadline
  CHECK(h.no_dead_letters());
}

TEST_CASE("retries follow simulated time until the event is dead-lettered", "[testing][retry]") {
  Harness h(BusConfig{.url = "memory://"});
  REQUIRE(h.simulated_time());
  auto sub = h.bus().subscribe({.pattern = "order.created", .group = "payments", .retry = every_second(3)},
                               h.handler("payments", [](const Envelope&) { throw std::domain_error("card declined"); }));
  h.bus().publish(Envelope::make("order.created"));
  REQUIRE(h.failed("order.created", "payments").wait_for(1, seconds(5)));
  // The failure is counted before the retry is decided: wait for that too.
  REQUIRE(h.retried("order.created", "payments").wait_for(1, seconds(5)));
  CHECK(h.retried("order.created", "payments").count() == 1);
  // Nothing happens until the clock moves: no real second passes here.
  CHECK_FALSE(h.failed("order.created", "payments").wait_for(2, milliseconds(50)));

  h.advance(seconds(1));
  REQUIRE(h.failed("order.created", "payments").wait_for(2, seconds(5)));
  REQUIRE(h.retried("order.created", "payments").wait_for(2, seconds(5)));
  CHECK(h.retried("order.created", "payments").count() == 2);
  CHECK(h.dead_letters("payments").count() == 0);

  h.advance(seconds(2));
  REQUIRE(h.dead_letters("payments").wait_for(1, seconds(5)));
  CHECK(h.failed("order.created", "payments").count() == 3);
  CHECK(h.retried("order.created", "payments").count() == 2);
  CHECK(h.dead_lettered("order.created", "payments").count() == 1);
  CHECK(h.consumed("order.created", "payments").count() == 0);
  CHECK_FALSE(h.no_dead_letters());
  CHECK_FALSE(h.each_event_applied_once("payments"));  // never applied
}

TEST_CASE("advance refuses a bus in real time", "[testing]") {
  auto bus = make_bus("memory://");
  Harness h(*bus);
  CHECK_THROWS_AS(h.advance(seconds(1)), std::logic_error);
}

TEST_CASE("each_event_applied_once tells a single application from a double one", "[testing]") {
  Harness h(BusConfig{.url = "memory://"});
  auto sub = h.bus().subscribe({.pattern = "order.paid", .group = "loyalty"}, h.handler("loyalty", [](const Envelope&) {}));
  Envelope paid = Envelope::make("order.paid");
  paid.id = "paid-1";
  h.bus().publish(paid);
  REQUIRE(h.consumed("order.paid", "loyalty").wait_for(1, seconds(5)));
  CHECK(h.each_event_applied_once("loyalty"));

  h.bus().publish(paid);  // a redelivery: the same id again
  REQUIRE(h.consumed("order.paid", "loyalty").wait_for(2, seconds(5)));
  CHECK(h.applications("loyalty", "paid-1") == 2);
  CHECK_FALSE(h.each_event_applied_once("loyalty"));
  CHECK(h.summary().find("event paid-1: applied 2 times") != std::string::npos);
}

TEST_CASE("a retried event that succeeds at last counts as applied once", "[testing][retry]") {
  Harness h(BusConfig{.url = "memory://"});
  int runs = 0;
  auto sub = h.bus().subscribe({.pattern = "order.created", .group = "mailer", .retry = every_second(5)},
                               h.handler("mailer", [&](const Envelope&) {
                                 if (++runs == 1) throw std::runtime_error("smtp timeout");
                               }));
  h.bus().publish(Envelope::make("order.created"));
  REQUIRE(h.failed("order.created", "mailer").wait_for(1, seconds(5)));
  h.advance(seconds(1));
  REQUIRE(h.consumed("order.created", "mailer").wait_for(1, seconds(5)));
  CHECK(h.each_event_applied_once("mailer"));
  CHECK(h.no_dead_letters());
}

TEST_CASE("namespaced gives each test broker names of its own", "[testing]") {
  auto a = herald::testing::namespaced(BusConfig::from_url("amqp://guest:guest@127.0.0.1:5672/"));
  auto b = herald::testing::namespaced(BusConfig::from_url("amqp://guest:guest@127.0.0.1:5672/"));
  REQUIRE(a.options.count("exchange"));
  CHECK(a.options.at("exchange") != b.options.at("exchange"));
  CHECK(a.options.at("queue_prefix") == a.options.at("exchange") + ".");

  auto k = herald::testing::namespaced(BusConfig{.url = "kafka://127.0.0.1:9092?client_id=t"});
  CHECK(k.url == "kafka://127.0.0.1:9092");
  CHECK(k.options.at("client_id") == "t");
  CHECK(k.options.count("topic_prefix"));
  CHECK(k.options.count("group_prefix"));

  BusConfig chosen{.url = "kafka://127.0.0.1:9092", .options = {{"topic_prefix", "mine."}}};
  CHECK(herald::testing::namespaced(chosen).options.at("topic_prefix") == "mine.");  // the test's choice stays
  CHECK(herald::testing::namespaced(BusConfig{.url = "memory://"}).options.empty());
}

TEST_CASE("transport_from_env reads HERALD_TEST_URL, else the fallback", "[testing]") {
  const char* saved = std::getenv("HERALD_TEST_URL");
  std::string keep = saved ? saved : "";
  ::unsetenv("HERALD_TEST_URL");
  CHECK(herald::testing::transport_from_env() == "memory://");
  CHECK(herald::testing::transport_from_env("memory://?workers=2") == "memory://?workers=2");
  ::setenv("HERALD_TEST_URL", "kafka://127.0.0.1:19092", 1);
  CHECK(herald::testing::transport_from_env() == "kafka://127.0.0.1:19092");
  if (saved) ::setenv("HERALD_TEST_URL", keep.c_str(), 1); else ::unsetenv("HERALD_TEST_URL");
}

TEST_CASE("settle moves simulated time on until the count is reached", "[testing][retry]") {
  Harness h(BusConfig{.url = "memory://"});
  auto sub = h.bus().subscribe({.pattern = "order.created", .group = "payments", .retry = every_second(4)},
                               [](const Envelope&) { throw std::domain_error("card declined"); });
  h.bus().publish(Envelope::make("order.created"));
  // 1 + 2 + 4 simulated seconds of backoff, in far less real time.
  CHECK(h.settle(h.dead_letters("payments"), 1, seconds(10)));
  CHECK(h.failed("order.created", "payments").count() == 4);
  CHECK_FALSE(h.settle(h.consumed("order.created", "payments"), 1, milliseconds(100)));
}
