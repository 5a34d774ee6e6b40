// `herald run --config F` as a user runs it: a separate process whose
// webhooks follow the file (saved or SIGHUP), fed by this test's bus on
// RabbitMQ and Kafka (memory would not cross the process boundary).

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "webhook_fixture.hpp"

namespace {

// The same names (exchange or topic prefix) as `bus`, so the process reads what the test publishes.
void write_config(const std::string& path, const BusConfig& config, const nlohmann::json& webhooks) {
  nlohmann::json j{{"url", config.url}, {"options", config.options}, {"webhooks", webhooks}};
  std::ofstream(path + ".tmp") << j.dump(2);
  std::filesystem::rename(path + ".tmp", path);  // whole, as an editor saves it
}

nlohmann::json hook(const std::string& name, const Receiver& r, const std::string& group) {
  return {{"name", name}, {"pattern", "order.#"}, {"group", group}, {"url", r.url()}, {"secret", "${HERALD_TEST_HOOK_SECRET}"}};
}

// Waits for a line of the process's output that holds `text`.
bool said(test::ChildProcess& p, const std::string& text, std::chrono::seconds within = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline)
    if (auto line = p.read_line(200ms); line && line->find(text) != std::string::npos) return true;
  return false;
}

std::vector<std::string> broker_transports() {
  auto all = transports();
  all.erase(all.begin());  // memory://
  return all;
}

}  // namespace

TEST_CASE("herald run reloads its webhooks when the file changes or on SIGHUP", "[webhooks][integration]") {
  const std::string url = GENERATE(from_range(broker_transports()));
  CAPTURE(redact_url(url));
  Receiver a, b;
  BusConfig config = testing::namespaced(BusConfig::from_url(url), "herald-run");
  auto bus = make_bus(config);
  const std::string file = std::filesystem::temp_directory_path() / (testing::unique_name("herald-run") + ".json");
  const std::string group_a = testing::unique_name("run-a"), group_b = testing::unique_name("run-b");
  write_config(file, config, nlohmann::json::array({hook("a", a, group_a)}));
  ::setenv("HERALD_TEST_HOOK_SECRET", secret.c_str(), 1);  // the file names the variable, not the secret
  test::ChildProcess run({HERALD_CLI, "run", "--config", file, "--no-admin"});
  REQUIRE(said(run, "webhooks: started a"));
  REQUIRE(said(run, "running "));

  Envelope first = Envelope::make("order.created", {{"n", 1}});
  bus->publish(first);
  REQUIRE(test::wait_until([&] { return a.read() >= 1; }, 30s));
  CHECK(a.accepted[0]["id"] == first.id);

  write_config(file, config, nlohmann::json::array({hook("a", a, group_a), hook("b", b, group_b)}));
  REQUIRE(said(run, "webhooks: started b"));
  Envelope second = Envelope::make("order.paid", {{"n", 2}});
  bus->publish(second);
  REQUIRE(test::wait_until([&] { return a.read() >= 2 && b.read() >= 1; }, 30s));
  CHECK(b.accepted[0]["id"] == second.id);

  // A file that does not read is refused with the reason; SIGHUP reads it again.
  { std::ofstream(file) << "{\"webhooks\": ["; }
  REQUIRE(said(run, "reload refused, the running webhooks are unchanged: config"));
  ::kill(run.pid(), SIGHUP);
  REQUIRE(said(run, "reload refused"));

  write_config(file, config, nlohmann::json::array({hook("b", b, group_b)}));
  REQUIRE(said(run, "webhooks: stopped a"));
  Envelope third = Envelope::make("order.shipped", {{"n", 3}});
  bus->publish(third);
  REQUIRE(test::wait_until([&] { return b.read() >= 2; }, 30s));
  CHECK(b.accepted[1]["id"] == third.id);
  CHECK(a.read(300ms) == 2);  // a was removed before `third`

  CHECK(run.stop() == 0);  // SIGTERM: in-flight deliveries finish, then a clean exit
  CHECK(run.output().find(secret) == std::string::npos);
  std::filesystem::remove(file);
}
