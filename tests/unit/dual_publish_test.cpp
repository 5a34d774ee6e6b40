// Dual publish on a routed bus: one route, two targets (memory://old and
// memory://new are two in-process buses). A group reading both applies each
// event once, in order per key; and the configuration that says so.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/routed_bus.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

BusConfig dual() {
  return BusConfig::from_json(nlohmann::json::parse(R"({
    "routes": [{"match": "order.#", "publish": ["memory://old", "memory://new"]}],
    "dedup": {"window": "10m"}})"));
}

Envelope order_event(int key, int seq) {
  Envelope e = Envelope::make("order.updated", {{"key", key}, {"seq", seq}});
  e.partitionkey = std::to_string(key);
  return e;
}

}  // namespace

TEST_CASE("a group reading both targets of a dual route applies each event once, in order per key",
          "[routes][memory][dual]") {
  auto bus = make_bus(dual());
  auto& routed = dynamic_cast<RoutedBus&>(*bus);
  std::mutex mutex;
  std::map<std::string, int> runs;            // event id -> handler runs
  std::map<int, std::vector<int>> per_key;    // key -> seqs as applied
  Recorder<std::string> applied;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "billing"}, [&](const Envelope& e) {
    auto p = e.payload();
    {
      std::lock_guard lock(mutex);
      ++runs[e.id];
      per_key[p["key"].get<int>()].push_back(p["seq"].get<int>());
    }
    applied.add(e.id);
  });
  constexpr int keys = 10, per = 30;
  for (int seq = 0; seq < per; ++seq)
    for (int key = 0; key < keys; ++key) bus->publish(order_event(key, seq));
  REQUIRE(bus->flush(std::chrono::seconds(20)));
  REQUIRE(applied.wait_for(keys * per, std::chrono::seconds(20)));

  // Both targets carried every event, and the group saw it once.
  CHECK(routed.features().dedups_ids);
  CHECK(routed.target("memory://old").metrics().snapshot().total_published() == keys * per);
  CHECK(routed.target("memory://new").metrics().snapshot().total_published() == keys * per);
  std::lock_guard lock(mutex);
  CHECK(runs.size() == std::size_t(keys * per));
  for (const auto& [id, n] : runs) CHECK(n == 1);
  for (const auto& [key, seqs] : per_key) {
    INFO("key " << key);
    CHECK(std::is_sorted(seqs.begin(), seqs.end()));
    CHECK(seqs.size() == std::size_t(per));
  }
}

TEST_CASE("a copy that failed is retried by the target it came from, and the other target's copy is acked",
          "[routes][memory][dual]") {
  auto bus = make_bus(dual());
  std::atomic<int> runs{0};
  Recorder<std::string> ok;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) {
    if (runs.fetch_add(1) == 0) throw std::runtime_error("smtp down");
    ok.add(e.id);
  });
  auto event = order_event(1, 1);
  bus->publish(event);
  REQUIRE(ok.wait_for(1, std::chrono::seconds(20)));
  REQUIRE(bus->flush(std::chrono::seconds(20)));
  CHECK(ok.items() == std::vector<std::string>{event.id});
  CHECK(runs.load() == 2);  // the failure and its retry; the other copy was acked
  CHECK(bus->dead_letters("mailer").empty());
}

TEST_CASE("the dedup store and window are configured by name, and bad ones refused", "[config][dual]") {
  BusConfig c = dual();
  CHECK(c.dedup_store == "memory");
  CHECK(c.dedup_window == std::chrono::minutes(10));
  CHECK(BusConfig{}.dedup_window == std::chrono::hours(1));
  auto refused = [](const char* json) {
    try {
      BusConfig::from_json(nlohmann::json::parse(json));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refused(R"({"dedup": {"window": "soon"}})"), Catch::Contains("window 'soon'"));
  CHECK_THAT(refused(R"({"dedup": {"window": "0s"}})"), Catch::Contains("window '0s'"));
  CHECK_THAT(refused(R"({"dedup": {"stor": "memory"}})"), Catch::Contains("unknown key 'stor'"));
  CHECK_THAT(refused(R"({"dedup": {"store": ""}})"), Catch::Contains("'store' is empty"));
  CHECK_THAT(refused(R"({"dedup": "memory"})"), Catch::Contains("'dedup' must be"));

  ::setenv("HERALD_DEDUP_STORE", "sqlite:///tmp/marks.db", 1);
  ::setenv("HERALD_DEDUP_WINDOW", "2h", 1);
  BusConfig e = BusConfig::from_env();
  ::unsetenv("HERALD_DEDUP_STORE");
  ::unsetenv("HERALD_DEDUP_WINDOW");
  CHECK(e.dedup_store == "sqlite:///tmp/marks.db");
  CHECK(e.dedup_window == std::chrono::hours(2));
}

TEST_CASE("a configuration file takes ${NAME} and ${NAME:-default} from the environment", "[config]") {
  const auto path = std::filesystem::temp_directory_path() / (unique_name("herald") + ".json");
  std::ofstream(path) << R"({"routes": [{"match": "#",
      "publish": ["amqp://app:${HERALD_TEST_SECRET}@${HERALD_TEST_HOST:-127.0.0.1}:5672/?exchange=orders${HERALD_TEST_NS:-}"]}]})";
  ::setenv("HERALD_TEST_SECRET", "s3cr3t", 1);
  ::setenv("HERALD_TEST_NS", ".run7", 1);
  BusConfig c = BusConfig::from_file(path);
  CHECK(c.routes[0].publish[0] == "amqp://app:s3cr3t@127.0.0.1:5672/?exchange=orders.run7");
  ::unsetenv("HERALD_TEST_SECRET");
  // A missing variable is named; nothing else of the file is printed.
  CHECK_THROWS_WITH(BusConfig::from_file(path),
                    Catch::Contains("HERALD_TEST_SECRET is not set") && !Catch::Contains("s3cr3t"));
  ::unsetenv("HERALD_TEST_NS");
  std::filesystem::remove(path);
}
