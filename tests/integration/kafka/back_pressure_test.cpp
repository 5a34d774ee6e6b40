// A member whose lanes are full keeps serving its group: a new member joins
// within moments, and no record is handled by both.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "herald/errors.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a member under back-pressure lets a new member join at once and nothing is handled twice",
          "[kafka][rebalance]") {
  constexpr int total = 300;
  const std::string ns = unique_name("pressure");
  // A rebalance may take as long as the member's running handler, far less
  // than max.poll.interval.ms (past which a silent member is evicted).
  const std::map<std::string, std::string> options{{"partitions", "2"},
                                                   {"max_in_flight", "100"},
                                                   {"drain_timeout", "30s"},
                                                   {"kafka.consumer.max.poll.interval.ms", "30000"}};
  auto first_bus = make_bus(kafka_config(ns, options));
  auto second_bus = make_bus(kafka_config(ns, options));
  const std::string group = ns + "-slow";

  std::vector<Envelope> events;
  for (int i = 0; i < total; ++i) {
    Envelope e = Envelope::make("job.queued", {{"i", i}});
    e.partitionkey = "job-" + std::to_string(i);
    events.push_back(std::move(e));
  }
  std::vector<std::string> events_ids;
  for (const auto& e : events) events_ids.push_back(e.id);
  first_bus->publish(std::move(events));

  std::mutex mutex;
  std::map<std::string, int> runs;  // id -> times handled
  int by_second = 0;
  auto slow = [&](const Envelope& e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the work: slower than records arrive
    std::lock_guard lock(mutex);
    ++runs[e.id];
  };
  auto handled = [&] {
    std::lock_guard lock(mutex);
    return runs.size();
  };

  // Published before the group exists: it reads them as history.
  auto first = first_bus->subscribe({.pattern = "job.*", .group = group, .start = StartFrom::earliest}, slow);
  // Its lanes hold far more than max_in_flight now: it is under back-pressure.
  REQUIRE(wait_until([&] { return handled() >= 3; }, deadline));

  auto started = std::chrono::steady_clock::now();
  auto second = second_bus->subscribe({.pattern = "job.*", .group = group}, [&](const Envelope& e) {
    slow(e);
    std::lock_guard lock(mutex);
    ++by_second;
  });
  auto joined = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::printf("second member joined a group under back-pressure in %lld ms\n", static_cast<long long>(joined.count()));
  CHECK(joined < std::chrono::seconds(5));

  const bool all = wait_until([&] { return handled() == static_cast<std::size_t>(total); }, std::chrono::seconds(90));
  if (!all) {
    // Which records never came (CI failed here once, 2026-11-27): their
    // indexes tell a partition's tail (revoked mid-flight) from a gap.
    std::lock_guard lock(mutex);
    std::string missing;
    for (int i = 0; i < total; ++i)
      if (!runs.count(events_ids[static_cast<std::size_t>(i)])) missing += std::to_string(i) + ' ';
    UNSCOPED_INFO("handled " << runs.size() << " of " << total << ", by the second member " << by_second
                             << "; never handled: " << missing);
  }
  REQUIRE(all);
  REQUIRE(first_bus->flush(deadline));
  REQUIRE(second_bus->flush(deadline));
  std::lock_guard lock(mutex);
  int twice = 0;
  for (const auto& [id, n] : runs) twice += n > 1 ? 1 : 0;
  CHECK(twice == 0);
  CHECK(by_second > 0);  // the group did share its partitions with the new member
}

TEST_CASE("a publisher waiting for room in a full producer queue goes on as reports arrive", "[kafka][producer]") {
  // Room comes with the delivery reports: a publisher is woken by them, not
  // by a timer (which cost 10 ms a record here).
  constexpr int total = 200;
  auto bus = make_bus(kafka_config(unique_name("room"), {{"kafka.producer.queue.buffering.max.messages", "1"}}));
  bus->publish(Envelope::make("parcel.sent", {{"i", -1}}));  // the topic exists and the connection is up
  std::vector<Envelope> events;
  for (int i = 0; i < total; ++i) events.push_back(Envelope::make("parcel.sent", {{"i", i}}));
  auto started = std::chrono::steady_clock::now();
  bus->publish(std::move(events));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  // How long it took is printed, not asserted: a figure for benchmarks and
  // notes, not a pass condition on a shared 2-core machine.
  std::printf("%d events through a producer queue of 1: %lld ms\n", total, static_cast<long long>(took.count()));
  CHECK(bus->metrics().snapshot().total_published() == static_cast<std::uint64_t>(total + 1));

  // The report thread stops at once too, not at its next poll timeout.
  started = std::chrono::steady_clock::now();
  bus->close();
  took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::printf("close: %lld ms\n", static_cast<long long>(took.count()));
  CHECK_THROWS_AS(bus->publish(Envelope::make("parcel.sent")), ClosedError);
}
