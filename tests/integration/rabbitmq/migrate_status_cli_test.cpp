// `herald migrate status` against RabbitMQ: the old side of a cut-over shows
// what it still holds, --wait-drained waits for it to run dry, and its dead
// letters are named with the command that moves them.

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "child_process.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

std::string cli() { return env_or("HERALD_TEST_CLI", HERALD_CLI); }

std::string target(const BusConfig& c) {
  std::string url = c.url;
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : c.options) {
    url += sep + k + "=" + percent_encode(v);
    sep = '&';
  }
  return url;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

TEST_CASE("migrate status shows the old side's backlog, waits for it to drain and names its dead letters",
          "[rabbitmq][cli][migrate]") {
  const std::string ns = unique_name("status");
  const std::string group = ns + "-mailer";
  const BusConfig old_config = isolated_config(ns);
  const BusConfig new_config = isolated_config(ns + "n", {{"queue_prefix", "herald.it.new."}});
  const std::string old_url = target(old_config), new_url = target(new_config);
  const std::string config_path = "/tmp/herald-" + ns + ".json";
  {
    nlohmann::json config = {{"routes", {{{"match", "order.#"}, {"publish", {new_url}}, {"subscribe", {old_url, new_url}}},
                                          {{"match", "#"}, {"publish", {new_url}}}}}};
    std::ofstream(config_path) << config.dump();
  }
  const std::string herald = "HERALD_CONFIG=" + config_path + " " + cli() + " migrate status --group " + group;

  auto old_bus = make_bus(old_config);
  old_bus->subscribe({.pattern = "order.*", .group = group}, [](const Envelope&) {}).cancel();
  for (int i = 0; i < 3; ++i) old_bus->publish(Envelope::make("order.created", {{"n", i}}));

  auto status = run_shell(herald + " --route 'order.#' --json 2>&1");
  INFO(status.output);
  REQUIRE(status.exit_code == 0);
  const auto report = nlohmann::json::parse(status.output);
  const auto& targets = report["routes"].at(0)["targets"];
  REQUIRE(targets.size() == 2);
  CHECK(targets[0]["role"] == "current");
  CHECK(targets[1]["role"] == "old side (draining)");
  CHECK(targets[1]["url"].get<std::string>().find("guest:guest") == std::string::npos);
  CHECK(targets[1]["groups"][0]["pending"] == 3);
  CHECK(targets[1]["groups"][0]["drained"] == false);

  auto early = run_shell(herald + " --wait-drained " + quoted(old_url) + " --timeout 1s 2>&1");
  INFO(early.output);
  CHECK(early.exit_code == 1);
  CHECK(early.output.find("pending 3") != std::string::npos);

  // The old side's consumers finish what it holds; one event fails for good.
  std::atomic<int> handled{0};
  auto sub = old_bus->subscribe({.pattern = "order.*", .group = group, .retry = RetryPolicy::none()},
                                [&](const Envelope& e) {
                                  if (e.type == "order.failed") throw std::runtime_error("smtp down");
                                  ++handled;
                                });
  old_bus->publish(Envelope::make("order.failed"));
  auto drained = run_shell(herald + " --wait-drained " + quoted(old_url) + " --timeout 30s --poll 100ms 2>&1");
  INFO(drained.output);
  CHECK(drained.exit_code == 0);
  CHECK(drained.output.find("drained: ") != std::string::npos);
  REQUIRE(wait_until([&] { return old_bus->dead_letters(group).size() == 1; }));
  sub.cancel();

  auto hinted = run_shell(herald + " 2>&1");
  INFO(hinted.output);
  CHECK(hinted.output.find("dead 1") != std::string::npos);
  CHECK(hinted.output.find("herald dlq move --from") != std::string::npos);
  std::remove(config_path.c_str());
  RawBroker raw;
  raw.delete_queue("herald.it." + group + ".dlq");
}
