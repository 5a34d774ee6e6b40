// `herald bridge` as a user runs it: from RabbitMQ to Kafka, stopping by
// itself after N events, or on SIGTERM, and exiting 0 after draining.

#include <catch2/catch.hpp>

#include <set>

#include "child_process.hpp"
#include "herald/config.hpp"
#include "kafka_fixture.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// HERALD_TEST_CLI runs another build of herald (an older one, to see the test fail).
std::string cli() { return env_or("HERALD_TEST_CLI", HERALD_CLI); }

std::string kafka_url(const std::string& ns) {
  std::string url = "kafka://" + kafka_brokers() + "?topic_prefix=herald-it." + ns + ".";
  BusConfig quick;
  quick_kafka(quick);
  for (const auto& [k, v] : quick.options) url += "&" + k + "=" + v;
  return url;
}

std::string amqp_url_for(const std::string& ns) {
  return amqp_url() + "?exchange=herald.it." + ns +
         "&queue_prefix=herald.it.&queue_expires=10m&dead_letter_expires=10m";
}

// Waits for the line that starts with `prefix`; the lines before it are kept in `seen`.
std::optional<std::string> line_starting(ChildProcess& child, const std::string& prefix, std::string& seen) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    auto line = child.read_line(std::chrono::milliseconds(500));
    if (!line) {
      if (!child.running()) return std::nullopt;
      continue;
    }
    seen += *line + "\n";
    if (line->rfind(prefix, 0) == 0) return line;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("herald bridge --events N forwards N events from RabbitMQ to Kafka and exits 0", "[bridge][cli]") {
  const std::string ns = unique_name("bridge-cli");
  auto rabbit = make_bus(isolated_config(ns));
  auto kafka = make_bus(kafka_config(ns));
  Recorder<std::string> on_kafka;
  auto reader = kafka->subscribe({.pattern = "order.#", .group = ns + "-reader", .start = StartFrom::earliest},
                                 [&](const Envelope& e) { on_kafka.add(e.id); });

  constexpr int events = 25;
  ChildProcess bridge({cli(), "bridge", "--from", amqp_url_for(ns), "--to", kafka_url(ns), "--pattern", "order.#",
                       "--group", ns + "-bridge", "--events", std::to_string(events), "--every", "1s"},
                      {.capture_errors = true});
  std::string output;
  // Subscribed once it says so: what is published from then on is its.
  const auto started = line_starting(bridge, "bridging", output);
  REQUIRE(started);
  CHECK(started->find("guest:***@") != std::string::npos);

  std::set<std::string> ids;
  for (int i = 0; i < events; ++i) {
    Envelope e = Envelope::make("order.created", {{"i", i}});
    e.partitionkey = "order-" + std::to_string(i % 5);
    ids.insert(e.id);
    rabbit->publish(std::move(e));
  }

  REQUIRE(line_starting(bridge, "stopped:", output));
  REQUIRE(wait_until([&] { return !bridge.running(); }, deadline));
  CHECK(bridge.stop() == 0);
  output += bridge.output();
  INFO(output);
  CHECK(output.find("forwarded=" + std::to_string(events)) != std::string::npos);
  CHECK(output.find("guest:guest") == std::string::npos);

  REQUIRE(on_kafka.wait_for(events, std::chrono::seconds(60)));
  REQUIRE(kafka->flush(std::chrono::seconds(30)));
  auto got = on_kafka.items();
  CHECK(got.size() == ids.size());
  CHECK(std::set<std::string>(got.begin(), got.end()) == ids);
}

TEST_CASE("herald bridge drains and exits 0 on SIGTERM", "[bridge][cli]") {
  const std::string ns = unique_name("bridge-cli");
  auto rabbit = make_bus(isolated_config(ns));
  ChildProcess bridge({cli(), "bridge", "--from", amqp_url_for(ns), "--to", kafka_url(ns), "--pattern", "order.#",
                       "--group", ns + "-bridge"},
                      {.capture_errors = true});
  std::string output;
  REQUIRE(line_starting(bridge, "bridging", output));
  rabbit->publish(Envelope::make("order.created", {}));
  CHECK(bridge.stop(std::chrono::seconds(60)) == 0);
  output += bridge.output();
  INFO(output);
  CHECK(output.find("stopped: forwarded=") != std::string::npos);
}

TEST_CASE("herald bridge names a broker it cannot reach and exits non-zero, without the password", "[bridge][cli]") {
  const std::string ns = unique_name("bridge-cli");
  const bool source_down = GENERATE(true, false);
  // Kafka connects on first use: the bridge reaches its destination at start.
  const std::string from = source_down ? "amqp://app:hunter2@127.0.0.1:1/" : amqp_url_for(ns);
  const std::string to = source_down ? kafka_url(ns)
                                     : "kafka://app:hunter2@127.0.0.1:1?admin_timeout=2s&topic_prefix=herald-it." +
                                           ns + ".";
  INFO((source_down ? "RabbitMQ source down" : "Kafka destination down"));
  auto run = run_shell(cli() + " bridge --from '" + from + "' --to '" + to + "' --pattern 'order.#' --group " + ns +
                       " 2>&1");
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK(run.output.find(source_down ? "cannot connect to amqp://app:***@127.0.0.1:1/"
                                    : "cannot reach the destination kafka://app:***@127.0.0.1:1") != std::string::npos);
  CHECK(run.output.find("hunter2") == std::string::npos);
}
