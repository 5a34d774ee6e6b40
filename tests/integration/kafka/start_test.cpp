// Where a new group starts, and what an ephemeral subscription leaves on the
// broker (nothing): the Kafka side of tests/conformance/start_test.cpp.

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "herald/context.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// The name core made unique, as the subscription's handler sees it.
struct SeenGroup {
  std::mutex mutex;
  std::string name;
  void note() {
    std::lock_guard lock(mutex);
    name = std::string(current_group());
  }
  std::string get() {
    std::lock_guard lock(mutex);
    return name;
  }
};

}  // namespace

TEST_CASE("an ephemeral subscription leaves no group, offsets or topics of its own behind", "[kafka][ephemeral]") {
  // As `herald tail` reads: a subscription of its own, named after the tool.
  KafkaFixture f;
  const std::string prefix = f.group("tail");
  SeenGroup seen;
  Recorder<std::string> got;
  auto sub = f.bus->subscribe({.pattern = "cache.#", .group = prefix, .ephemeral = true}, [&](const Envelope& e) {
    seen.note();
    got.add(e.id);
  });
  for (int i = 0; i < 3; ++i) f.bus->publish(Envelope::make("cache.invalidated", {{"key", i}}));
  REQUIRE(got.wait_for(3, deadline));
  REQUIRE(f.bus->flush(deadline));
  const std::string group = seen.get();
  REQUIRE_THAT(group, Catch::StartsWith(prefix + "-"));
  CHECK(group_exists(group));  // the check below can see a group

  sub.cancel();
  CHECK_FALSE(group_exists(group));
  for (int p = 0; p < 3; ++p) CHECK(committed_offset(group, f.topic("cache"), p) == -1);
  CHECK_FALSE(topic_exists(f.topic("cache") + ".retry." + group));
  CHECK_FALSE(topic_exists(f.topic("cache") + ".dlq"));
}

TEST_CASE("an ephemeral subscription retries in process and logs its dead letters instead of keeping them",
          "[kafka][ephemeral][retry]") {
  KafkaFixture f;  // in_process_attempts 3: a durable group would move the event to its retry topic
  SeenGroup seen;
  std::atomic<int> runs{0};
  auto sub = f.bus->subscribe({.pattern = "cache.#", .retry = quick_retry(4), .ephemeral = true},
                              [&](const Envelope&) {
                                seen.note();
                                ++runs;
                                throw std::runtime_error("cache is away");
                              });
  f.bus->publish(Envelope::make("cache.invalidated", {{"key", 1}}));
  REQUIRE(wait_until([&] { return runs.load() >= 4; }, deadline));
  REQUIRE(f.bus->flush(deadline));
  const std::string group = seen.get();
  CHECK(runs.load() == 4);
  CHECK(f.bus->metrics().snapshot().total(group).dead_lettered == 1);
  CHECK(f.bus->dead_letters(group).empty());
  CHECK_FALSE(topic_exists(f.topic("cache") + ".retry." + group));
}

TEST_CASE("a new group's start is committed at the ends of its topics before subscribe returns", "[kafka][start]") {
  KafkaFixture f;
  Recorder<std::string> orders;
  auto s1 = f.bus->subscribe({.pattern = "invoice.#", .group = f.group("orders")},
                             [&](const Envelope& e) { orders.add(e.id); });
  for (int i = 0; i < 6; ++i) {
    Envelope e = Envelope::make("invoice.issued", {{"n", i}});
    e.partitionkey = "k" + std::to_string(i);
    f.bus->publish(e);
  }
  REQUIRE(orders.wait_for(6, deadline));

  // Another process joining the group later finds this position, not the
  // end of the topic at its own start.
  const std::string billing = f.group("billing");
  auto s2 = f.bus->subscribe({.pattern = "invoice.#", .group = billing}, [](const Envelope&) {});
  std::int64_t total = 0;
  for (int p = 0; p < 3; ++p) total += std::max<std::int64_t>(0, committed_offset(billing, f.topic("invoice"), p));
  CHECK(total == 6);

  // A group that has offsets goes on from them, whatever `start` says.
  s2.cancel();
  Envelope missed = Envelope::make("invoice.issued", {{"n", 7}});
  f.bus->publish(missed);
  Recorder<std::string> again;
  auto s3 = f.bus->subscribe({.pattern = "invoice.#", .group = billing}, [&](const Envelope& e) { again.add(e.id); });
  REQUIRE(again.wait_for(1, deadline));
  REQUIRE(f.bus->flush(deadline));
  CHECK(again.items() == std::vector<std::string>{missed.id});
}

TEST_CASE("a member joining a group whose members committed nothing yet misses nothing", "[kafka][start]") {
  // The group exists (a member reads) but has no offsets: the newcomer must
  // not place it at the ends; the broker refuses a commit from outside a
  // group that has members.
  const std::string ns = unique_name("join");
  const std::map<std::string, std::string> options{{"partitions", "2"}, {"commit_interval", "60s"}};
  auto first_bus = make_bus(kafka_config(ns, options));
  auto second_bus = make_bus(kafka_config(ns, options));
  const std::string group = ns + "-billing";
  std::vector<Envelope> before;
  for (int i = 0; i < 6; ++i) {
    Envelope e = Envelope::make("invoice.issued", {{"i", i}});
    e.partitionkey = "k" + std::to_string(i);
    before.push_back(std::move(e));
  }
  first_bus->publish(before);

  Recorder<std::string> got;
  auto slow = [&](const Envelope& e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the work: still busy when the second joins
    got.add(e.id);
  };
  auto first = first_bus->subscribe({.pattern = "invoice.*", .group = group, .start = StartFrom::earliest}, slow);
  REQUIRE(got.wait_for(1, deadline));
  auto second = second_bus->subscribe({.pattern = "invoice.*", .group = group}, slow);
  for (int i = 0; i < 4; ++i) first_bus->publish(Envelope::make("invoice.issued", {{"after", i}}));
  auto distinct = [&] {
    auto items = got.items();
    return std::set<std::string>(items.begin(), items.end()).size();
  };
  REQUIRE(wait_until([&] { return distinct() >= 10; }, deadline));
  auto items = got.items();
  std::set<std::string> ids(items.begin(), items.end());
  for (const auto& e : before) CHECK(ids.count(e.id) == 1);
}
