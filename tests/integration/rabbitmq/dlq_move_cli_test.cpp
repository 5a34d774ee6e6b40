// `herald dlq move` from RabbitMQ to Kafka, as an operator runs it after a
// cut-over: the group's dead letter reaches that group on Kafka and no other.

#include <catch2/catch.hpp>

#include "child_process.hpp"
#include "raw_broker.hpp"
#include "test_options.hpp"

using namespace herald;
using namespace herald::test;

namespace {

std::string cli() { return env_or("HERALD_TEST_CLI", HERALD_CLI); }

// Single quotes for sh; the URLs carry '?' and '&'.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string amqp_target(const BusConfig& c) {
  std::string url = c.url;
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : c.options) {
    url += sep + k + "=" + percent_encode(v);
    sep = '&';
  }
  return url;
}

}  // namespace

TEST_CASE("herald dlq move hands a RabbitMQ dead letter to its group on Kafka, and to no other group there",
          "[rabbitmq][kafka][cli][dlq]") {
  const std::string ns = unique_name("dlqmove");
  const std::string group = ns + "-mailer";
  const BusConfig old_config = isolated_config(ns);
  const std::string from = amqp_target(old_config);
  const std::string to = "kafka://" + kafka_brokers() + "?topic_prefix=herald-it." + ns +
                         ".&kafka.consumer.fetch.wait.max.ms=50&kafka.producer.linger.ms=1";

  auto old_bus = make_bus(old_config);
  auto failing = old_bus->subscribe({.pattern = "order.*", .group = group, .retry = RetryPolicy::none()},
                                    [](const Envelope&) { throw std::runtime_error("smtp down"); });
  Envelope event = Envelope::make("order.created", {{"order", 7}});
  old_bus->publish(event);
  REQUIRE(wait_until([&] { return old_bus->dead_letters(group).size() == 1; }, std::chrono::seconds(20)));
  failing.cancel();
  const std::string id = old_bus->dead_letters(group).at(0).event.id;

  // Both groups exist on Kafka (a first durable read places them), before the move.
  for (const auto& g : {group, ns + "-billing"}) {
    auto placed = run_shell(cli() + " tail 'order.*' --url " + quoted(to) + " --group " + g + " --seconds 1 2>&1");
    REQUIRE(placed.exit_code == 0);
  }
  auto move = run_shell(cli() + " dlq move --from " + quoted(from) + " --to " + quoted(to) + " --group " + group + " 2>&1");
  INFO(move.output);
  REQUIRE(move.exit_code == 0);
  CHECK(move.output.find("moved 1 dead letter(s) of " + group) != std::string::npos);
  CHECK(move.output.find("guest:guest") == std::string::npos);
  CHECK(old_bus->dead_letters(group).empty());

  auto mailer = run_shell(cli() + " tail 'order.*' --url " + quoted(to) + " --group " + group +
                          " --count 1 --seconds 30 --json 2>&1");
  INFO(mailer.output);
  CHECK(mailer.output.find(id) != std::string::npos);
  auto billing = run_shell(cli() + " tail 'order.*' --url " + quoted(to) + " --group " + ns +
                           "-billing --seconds 5 --json 2>&1");
  INFO(billing.output);
  CHECK(billing.output.find(id) == std::string::npos);
  RawBroker raw;
  raw.delete_queue("herald.it." + group + ".dlq");
}
