// A group member in another process killed with SIGKILL: what it held is
// handled by the members that live on, and an event that kills every
// consumer ends in the dead letters where the transport can count crashes.

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <mutex>
#include <set>
#include <thread>

#include "child_process.hpp"
#include "fixture.hpp"
#include "herald/errors.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// conformance_consumer (consumer_process.cpp) for the fixture's namespace.
std::vector<std::string> consumer_args(const BusFixture& f, const std::string& group, const std::string& pattern,
                                       const std::string& mode, int concurrency, int max_attempts) {
  auto args = f.transport.consumer(f.ns);
  for (const std::string& a : {group, pattern, mode, std::to_string(concurrency), std::to_string(max_attempts)})
    args.push_back(a);
  return args;
}

bool starts_with(const std::string& line, const std::string& prefix) { return line.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("events a killed consumer held unfinished are handled by another member of the group",
          "[conformance][process][crash]") {
  BusFixture f;
  if (!f.features.broker) {
    SUCCEED("transport " << f.features.name << " has no consumers in other processes");
    return;
  }
  const std::string group = f.group("workers");
  ChildProcess other(consumer_args(f, group, "task.#", "hold", 2, 5));
  REQUIRE(other.read_line(deadline) == std::optional<std::string>("ready"));

  std::vector<std::string> ids;
  std::vector<Envelope> batch;
  for (int i = 0; i < 20; ++i) {
    batch.push_back(Envelope::make("task.created", {{"i", i}}));
    // Keys of their own: events of one key wait for each other.
    batch.back().partitionkey = "task-" + std::to_string(i);
    ids.push_back(batch.back().id);
  }
  f.bus->publish(batch);

  // The other process is in the middle of two handlers, with more fetched.
  std::set<std::string> held;
  for (int i = 0; i < 2; ++i) {
    auto line = other.read_line(deadline);
    REQUIRE(line);
    REQUIRE(starts_with(*line, "got "));
    held.insert(line->substr(4));
  }
  other.kill9();

  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "task.#", .group = group, .concurrency = 4},
                              [&](const Envelope& e) { handled.add(e.id); });
  REQUIRE(handled.wait_for(ids.size(), deadline));
  REQUIRE(f.bus->flush(deadline));
  auto got = handled.items();
  CHECK(got.size() == ids.size());
  CHECK(std::set<std::string>(got.begin(), got.end()) == std::set<std::string>(ids.begin(), ids.end()));
  for (const auto& id : held) CHECK(std::count(got.begin(), got.end(), id) == 1);
  CHECK(f.bus->dead_letters(group).empty());
}

TEST_CASE("when a member is killed mid-stream the member that lives on finishes the stream",
          "[conformance][process][crash]") {
  BusFixture f;
  if (!f.features.broker) {
    SUCCEED("transport " << f.features.name << " has no consumers in other processes");
    return;
  }
  constexpr int total = 3'000;
  const std::string group = f.group("streamers");
  // The group exists before the stream: a new group starts at what is
  // published after its first subscribe.
  { auto declare = f.bus->subscribe({.pattern = "work.#", .group = group}, [](const Envelope&) {}); }

  std::vector<Envelope> events;
  std::set<std::string> ids;
  for (int i = 0; i < total; ++i) {
    Envelope e = Envelope::make("work.queued", {{"i", i}});
    e.partitionkey = "job-" + std::to_string(i);
    ids.insert(e.id);
    events.push_back(std::move(e));
  }
  f.bus->publish(std::move(events));

  ChildProcess child(consumer_args(f, group, "work.#", "work", 1, 5));
  REQUIRE(child.read_line(deadline) == std::optional<std::string>("ready"));
  // Every id the child printed was handed to its handler; read them all, up
  // to what is still in the pipe after it died.
  std::mutex mutex;
  std::set<std::string> by_child;
  std::thread reader([&] {
    while (auto line = child.read_line(std::chrono::seconds(90))) {
      std::lock_guard lock(mutex);
      if (starts_with(*line, "got ")) by_child.insert(line->substr(4));
    }
  });
  auto child_count = [&] {
    std::lock_guard lock(mutex);
    return by_child.size();
  };

  // The member that lives on joins once the child is busy (a broker that
  // shares out messages as members ask would otherwise hand it the stream).
  bool mid_stream = wait_until([&] { return child_count() >= 300; }, deadline);
  Recorder<std::string> survivor;
  auto sub = f.bus->subscribe({.pattern = "work.#", .group = group}, [&](const Envelope& e) { survivor.add(e.id); });
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
  REQUIRE(f.bus->flush(std::chrono::seconds(30)));
  CHECK(seen == ids);
}

namespace {

struct PoisonRuns {
  int crashes = 0;
  std::vector<DeadLetter> letters;
  std::set<std::string> handled;  // ids the consumers printed "got" for
  std::unique_ptr<ChildProcess> last;  // the consumer that saw the dead letter, still running
};

// Starts a consumer that dies on task.poison, again each time it died, until
// the group's dead letters hold something (at most max_attempts + 2 runs).
PoisonRuns run_consumers_until_dead_lettered(BusFixture& f, const std::string& group, int max_attempts,
                                              int concurrency = 1) {
  PoisonRuns runs;
  for (int run = 0; run < max_attempts + 2 && runs.letters.empty(); ++run) {
    runs.last = std::make_unique<ChildProcess>(consumer_args(f, group, "task.#", "crash", concurrency, max_attempts));
    REQUIRE(runs.last->read_line(deadline) == std::optional<std::string>("ready"));
    bool crashed = false;
    REQUIRE(wait_until([&] {
      while (auto line = runs.last->read_line(std::chrono::milliseconds(20))) {
        if (starts_with(*line, "crash ")) crashed = true;
        if (starts_with(*line, "got ")) runs.handled.insert(line->substr(4));
      }
      return crashed || !(runs.letters = f.bus->dead_letters(group)).empty();
    }, deadline));
    if (crashed) {
      ++runs.crashes;
      CHECK(runs.last->wait() == SIGKILL);
    }
  }
  return runs;
}

constexpr int poison_max_attempts = 3;

// The group exists first (a new group starts at what is published after
// it), then the poison event is published to it.
Envelope publish_pill(BusFixture& f, const std::string& group) {
  { auto declare = f.bus->subscribe({.pattern = "task.#", .group = group}, [](const Envelope&) {}); }
  Envelope pill = Envelope::make("task.poison", {{"dose", 1}});
  f.bus->publish(pill);
  return pill;
}

void check_dead_lettered_after_max_attempts(const PoisonRuns& runs, const Envelope& pill, int max_attempts) {
  CHECK(runs.crashes == max_attempts);  // the handler ran exactly max_attempts times
  REQUIRE(runs.letters.size() == 1);
  CHECK(runs.letters.front().event.id == pill.id);
  CHECK(runs.letters.front().reason == dead_letter_reason_max_attempts);
  CHECK_THAT(runs.letters.front().last_error, Catch::Contains("without an outcome"));
}

}  // namespace

TEST_CASE("an event that crashes its consumer every time is dead-lettered after max_attempts deliveries",
          "[conformance][process][crash][poison]") {
  BusFixture f;
  if (!f.features.broker || !f.features.crash_counts_as_attempt) {
    SUCCEED("transport " << f.features.name << " does not count a delivery that killed its consumer");
    return;
  }
  const std::string group = f.group("jobs");
  const Envelope pill = publish_pill(f, group);
  Envelope after = Envelope::make("task.created", {{"n", 1}});
  f.bus->publish(after);

  PoisonRuns runs = run_consumers_until_dead_lettered(f, group, poison_max_attempts);
  check_dead_lettered_after_max_attempts(runs, pill, poison_max_attempts);
  // The event behind it was not taken down with it, and is handled by the
  // consumer that survives.
  REQUIRE(wait_until([&] {
    while (auto line = runs.last->read_line(std::chrono::milliseconds(20)))
      if (starts_with(*line, "got ")) runs.handled.insert(line->substr(4));
    return runs.handled.count(after.id) > 0;
  }, deadline));
}

// With handlers to spare, the copy that counts a crash can run before the
// delivery it was copied from is acked: were it to crash the process then,
// both would come again and the count would start over.
TEST_CASE("an event that crashes a consumer running four handlers at once is dead-lettered after max_attempts deliveries",
          "[conformance][process][crash][poison]") {
  BusFixture f;
  if (!f.features.broker || !f.features.crash_counts_as_attempt) {
    SUCCEED("transport " << f.features.name << " does not count a delivery that killed its consumer");
    return;
  }
  const std::string group = f.group("jobs");
  const Envelope pill = publish_pill(f, group);

  PoisonRuns runs = run_consumers_until_dead_lettered(f, group, poison_max_attempts, 4);
  check_dead_lettered_after_max_attempts(runs, pill, poison_max_attempts);
}
