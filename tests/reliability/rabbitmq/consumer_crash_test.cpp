#include <catch2/catch.hpp>

#include <csignal>
#include <set>

#include "child_process.hpp"
#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

std::vector<std::string> consumer_args(const std::string& ns, const std::string& group, const std::string& mode,
                                       int concurrency, int max_attempts) {
  return {HERALD_CONSUMER_PROCESS, amqp_url(), ns, group, "task.#", mode, std::to_string(concurrency),
          std::to_string(max_attempts)};
}

}  // namespace

TEST_CASE("events a killed consumer held unacked are redelivered to another member of the group",
          "[rabbitmq][reliability][crash]") {
  const std::string ns = unique_name("crash");
  const std::string group = ns + "-workers";
  auto bus = make_bus(isolated_config(ns));

  ChildProcess other(consumer_args(ns, group, "hold", 2, 5));
  REQUIRE(other.read_line(deadline) == std::optional<std::string>("ready"));

  std::vector<std::string> ids;
  std::vector<Envelope> batch;
  for (int i = 0; i < 20; ++i) {
    batch.push_back(Envelope::make("task.created", {{"i", i}}));
    ids.push_back(batch.back().id);
  }
  bus->publish(batch);

  // The other process is in the middle of two handlers, with more prefetched.
  std::set<std::string> held;
  for (int i = 0; i < 2; ++i) {
    auto line = other.read_line(deadline);
    REQUIRE(line);
    REQUIRE(line->rfind("got ", 0) == 0);
    held.insert(line->substr(4));
  }
  other.kill9();

  Recorder<std::string> handled;
  auto sub = bus->subscribe({.pattern = "task.#", .group = group, .concurrency = 4},
                            [&](const Envelope& e) { handled.add(e.id); });
  REQUIRE(handled.wait_for(ids.size(), deadline));
  REQUIRE(bus->flush(deadline));
  auto got = handled.items();
  CHECK(got.size() == ids.size());
  CHECK(std::set<std::string>(got.begin(), got.end()) == std::set<std::string>(ids.begin(), ids.end()));
  for (const auto& id : held) CHECK(std::count(got.begin(), got.end(), id) == 1);
  CHECK(bus->dead_letters(group).empty());
}

TEST_CASE("an event that crashes its consumer every time is dead-lettered after max_attempts deliveries",
          "[rabbitmq][reliability][crash][poison]") {
  const std::string ns = unique_name("poison");
  const std::string group = ns + "-jobs";
  constexpr int max_attempts = 3;
  auto bus = make_bus(isolated_config(ns));
  { auto declare = bus->subscribe({.pattern = "task.#", .group = group}, [](const Envelope&) {}); }
  Envelope pill = Envelope::make("task.poison", {{"dose", 1}});
  bus->publish(pill);
  Envelope after = Envelope::make("task.created", {{"n", 1}});
  bus->publish(after);

  int crashes = 0;
  std::vector<DeadLetter> letters;
  std::set<std::string> handled;
  std::unique_ptr<ChildProcess> consumer;
  for (int run = 0; run < max_attempts + 2 && letters.empty(); ++run) {
    consumer = std::make_unique<ChildProcess>(consumer_args(ns, group, "crash", 1, max_attempts));
    REQUIRE(consumer->read_line(deadline) == std::optional<std::string>("ready"));
    bool crashed = false;
    REQUIRE(wait_until([&] {
      while (auto line = consumer->read_line(std::chrono::milliseconds(20))) {
        if (line->rfind("crash ", 0) == 0) crashed = true;
        if (line->rfind("got ", 0) == 0) handled.insert(line->substr(4));
      }
      return crashed || !(letters = bus->dead_letters(group)).empty();
    }, deadline));
    if (crashed) {
      ++crashes;
      CHECK(consumer->wait() == SIGKILL);
    }
  }
  CHECK(crashes == max_attempts);  // the handler ran exactly max_attempts times
  REQUIRE(letters.size() == 1);    // the event behind it was not taken down with it
  CHECK(letters.front().event.id == pill.id);
  CHECK(letters.front().reason == dead_letter_reason_max_attempts);
  CHECK_THAT(letters.front().last_error, Catch::Contains("without an outcome"));
  // ...and is handled by the consumer that survives.
  REQUIRE(wait_until([&] {
    while (auto line = consumer->read_line(std::chrono::milliseconds(20)))
      if (line->rfind("got ", 0) == 0) handled.insert(line->substr(4));
    return handled.count(after.id) > 0;
  }, deadline));
}
