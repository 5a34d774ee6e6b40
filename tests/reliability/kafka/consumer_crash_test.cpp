// A group member killed with SIGKILL mid-stream: the group rebalances and
// the survivor finishes the stream; nothing is lost.

#include <catch2/catch.hpp>

#include <set>

#include "child_process.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("when a member is killed the group rebalances and the survivor finishes the stream", "[kafka][reliability]") {
  constexpr int total = 3'000;
  const std::string ns = unique_name("member");
  auto config = kafka_config(ns, {{"partitions", "4"}});
  const std::string prefix = config.options.at("topic_prefix");
  const std::string group = ns + "-workers";
  auto dconfig = config;
  dconfig.options["kafka.consumer.debug"] = "fetch,topic";
  auto bus = make_bus(dconfig);

  std::vector<Envelope> events;
  std::set<std::string> ids;
  for (int i = 0; i < total; ++i) {
    Envelope e = Envelope::make("work.queued", {{"i", i}});
    e.partitionkey = "job-" + std::to_string(i);
    ids.insert(e.id);
    events.push_back(std::move(e));
  }
  bus->publish(std::move(events));

  ChildProcess child({HERALD_CONSUMER_PROCESS, kafka_brokers(), prefix, group});
  REQUIRE(child.read_line(std::chrono::seconds(30)) == std::optional<std::string>("ready"));

  Recorder<std::string> survivor;
  auto sub = bus->subscribe({.pattern = "work.#", .group = group}, [&](const Envelope& e) { survivor.add(e.id); });

  std::set<std::string> by_child;
  while (by_child.size() < 300) {
    auto line = child.read_line(std::chrono::seconds(30));
    REQUIRE(line);
    by_child.insert(*line);
  }
  child.kill9();

  std::set<std::string> seen(by_child);
  fprintf(stderr, "DBG %ld killed child after %zu\n", (long)(std::chrono::steady_clock::now().time_since_epoch().count()/1000000 % 100000), by_child.size());
  INFO("survivor " << survivor.size());
  REQUIRE(wait_until(
      [&] {
        for (const auto& id : survivor.items()) seen.insert(id);
        return seen.size() >= ids.size();
      },
      std::chrono::seconds(60)));
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  CHECK(seen == ids);
  INFO("child handled " << by_child.size() << ", survivor " << survivor.size());
  CHECK(survivor.size() + by_child.size() >= ids.size());
}
