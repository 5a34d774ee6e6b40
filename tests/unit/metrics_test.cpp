#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/delivery.hpp"
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
  CHECK(flaky.dead_by_reason[static_cast<std::size_t>(DeadLetterReason::max_attempts)] == 1);
  std::string text = bus->metrics().prometheus();
  CHECK_THAT(text, Catch::Contains("herald_dead_letters_total{type=\"order.created\",group=\"flaky\",reason=\"max_attempts\"} 1"));
  CHECK_THAT(text, Catch::Contains("herald_process_duration_seconds_count{type=\"order.created\",group=\"mailer\"} 1"));
  CHECK_THAT(text, Catch::Contains("herald_messages_consumed_total{type=\"order.created\",group=\"flaky\",outcome=\"failure\"} 2"));
  CHECK_THAT(text, Catch::Contains("herald_retries_total{type=\"order.created\",group=\"flaky\"} 1"));
}

TEST_CASE("the Prometheus text names every family once with HELP and TYPE and labels by transport, never by event id",
          "[metrics]") {
  auto bus = make_bus("memory://?dispatch=inline");
  auto ok = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [](const Envelope&) {});
  auto poison = bus->subscribe({.pattern = "order.*", .group = "strict"}, [](const Envelope&) {
    throw ConfigError("never");  // not retriable: dead-lettered at once
  });
  Envelope e = Envelope::make("order.created");
  bus->publish(e);
  std::string text = bus->metrics().prometheus(bus->features().name);
  for (const char* family : {"herald_messages_published_total", "herald_publish_duration_seconds",
                             "herald_messages_consumed_total", "herald_process_duration_seconds",
                             "herald_retries_total", "herald_dead_letters_total"}) {
    INFO(family);
    CHECK_THAT(text, Catch::Contains(std::string("# HELP ") + family + " "));
    CHECK_THAT(text, Catch::Contains(std::string("# TYPE ") + family + " "));
  }
  CHECK_THAT(text, Catch::Contains("herald_messages_published_total{transport=\"memory\",type=\"order.created\"} 1"));
  CHECK_THAT(text, Catch::Contains("herald_publish_duration_seconds_count{transport=\"memory\",type=\"order.created\"} 1"));
  CHECK_THAT(text, Catch::Contains("herald_publish_duration_seconds_bucket{transport=\"memory\",type=\"order.created\",le=\"+Inf\"} 1"));
  CHECK_THAT(text, Catch::Contains("herald_dead_letters_total{transport=\"memory\",type=\"order.created\",group=\"strict\",reason=\"non_retriable\"} 1"));
  CHECK_THAT(text, Catch::Contains("outcome=\"success\"} 1"));
  CHECK_THAT(text, !Catch::Contains(e.id));
  CHECK_THAT(text, !Catch::Contains("event_"));  // the old names are gone
}

TEST_CASE("a label value with quotes, newlines or invalid UTF-8 is escaped in the Prometheus text", "[metrics]") {
  Metrics m;
  m.published("order.created", 1);
  m.consumer("order.created", "a\"b\nc\xff").delivered.fetch_add(1);
  std::string text = m.prometheus("x\\y");
  CHECK_THAT(text, Catch::Contains("transport=\"x\\\\y\""));
  CHECK_THAT(text, Catch::Contains("group=\"a\\\"b\\nc\xEF\xBF\xBD\""));
}

TEST_CASE("a publish is counted once whether timed or not, and a histogram's count is its +Inf bucket", "[metrics]") {
  Metrics m;
  m.published("order.created", 3);  // untimed: a relay's count
  m.published("order.created", std::chrono::microseconds(20));
  m.published("order.created", std::chrono::milliseconds(2));
  auto s = m.snapshot();
  CHECK(s.published.at("order.created") == 5);
  const LatencyHistogram& h = s.publish_latency.at("order.created");
  CHECK(h.count == 2);
  CHECK(h.buckets[1] == 1);  // 20 us: up to 50 us
  CHECK(h.buckets[5] == 1);  // 2 ms: up to 5 ms
  CHECK(h.sum_seconds == Approx(0.00202));

  // Read while other threads observe: every read's count is the sum of
  // its buckets (Prometheus requires _count to equal the +Inf bucket).
  ConsumerCounters& c = m.consumer("order.created", "mailer");
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) c.observe_latency(std::chrono::microseconds(w * 700 + i % 3));
    });
  std::size_t reads = 0, mismatched = 0;
  std::uint64_t last = 0;
  while (reads < 20000 || last < 1000) {
    LatencyHistogram r = c.latency();
    std::uint64_t sum = 0;
    for (auto b : r.buckets) sum += b;
    if (sum != r.count) ++mismatched;
    last = r.count;
    ++reads;
  }
  stop = true;
  for (auto& t : writers) t.join();
  CHECK(mismatched == 0);
  CHECK(c.latency().count >= last);
}
