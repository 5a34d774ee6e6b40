// A group member killed with SIGKILL mid-stream: the group rebalances and
// the survivor finishes the stream; nothing is lost.

#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <thread>

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
  auto bus = make_bus(config);
  // The group exists before the stream: a new group starts at what is
  // published after its first subscribe.
  { auto declare = bus->subscribe({.pattern = "work.#", .group = group}, [](const Envelope&) {}); }

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
  // Every id the child prints has taken effect; read them all, up to what
  // is still in the pipe after it died.
  std::mutex mutex;
  std::set<std::string> by_child;
  std::thread reader([&] {
    while (auto line = child.read_line(std::chrono::seconds(90))) {
      std::lock_guard lock(mutex);
      by_child.insert(*line);
    }
  });
  auto child_count = [&] {
    std::lock_guard lock(mutex);
    return by_child.size();
  };

  Recorder<std::string> survivor;
  auto sub = bus->subscribe({.pattern = "work.#", .group = group}, [&](const Envelope& e) { survivor.add(e.id); });
  bool mid_stream = wait_until([&] { return child_count() >= 300; }, std::chrono::seconds(30));
  child.kill9();
  reader.join();
  REQUIRE(mid_stream);
  REQUIRE(child_count() < ids.size());

  std::set<std::string> seen(by_child);
  bool finished = wait_until(
      [&] {
        for (const auto& id : survivor.items()) seen.insert(id);
        return seen.size() >= ids.size();
      },
      std::chrono::seconds(120));
  INFO("the child handled " << by_child.size() << ", the survivor " << survivor.size() << "; "
                            << ids.size() - seen.size() << " not handled");
  REQUIRE(finished);
  REQUIRE(bus->flush(std::chrono::seconds(30)));
  CHECK(seen == ids);
}
