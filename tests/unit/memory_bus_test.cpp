#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;

namespace {

struct SimulatedBus {
  std::shared_ptr<ManualScheduler> clock = std::make_shared<ManualScheduler>();
  std::unique_ptr<EventBus> bus;
  explicit SimulatedBus(const std::string& url = "memory://?dispatch=inline") {
    BusConfig c = BusConfig::from_url(url);
    c.scheduler = clock;
    bus = make_bus(c);
  }
};

}  // namespace

TEST_CASE("handlers run on the bus's threads, never on the publisher's", "[memory]") {
  auto bus = make_bus("memory://?workers=2");
  Recorder<std::thread::id> threads;
  auto sub = bus->subscribe({.pattern = "a.*", .group = "g"}, [&](const Envelope&) { threads.add(std::this_thread::get_id()); });
  for (int i = 0; i < 10; ++i) bus->publish(Envelope::make("a.b"));
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  for (auto id : threads.items()) CHECK(id != std::this_thread::get_id());
}

TEST_CASE("inline dispatch runs handlers on the publisher's thread", "[memory]") {
  auto bus = make_bus("memory://?dispatch=inline");
  std::thread::id ran;
  auto sub = bus->subscribe({.pattern = "a.*", .group = "g"}, [&](const Envelope&) { ran = std::this_thread::get_id(); });
  bus->publish(Envelope::make("a.b"));
  CHECK(ran == std::this_thread::get_id());
}

TEST_CASE("retries follow the backoff schedule in simulated time", "[memory][retry]") {
  SimulatedBus sim;
  std::vector<Scheduler::TimePoint> attempts;
  RetryPolicy policy{.max_attempts = 4, .initial_delay = milliseconds(100), .multiplier = 3.0, .max_delay = milliseconds(500), .jitter = 0.0};
  auto sub = sim.bus->subscribe({.pattern = "job.*", .group = "workers", .retry = policy}, [&](const Envelope&) {
    attempts.push_back(sim.clock->now());
    throw std::runtime_error("nope");
  });
  auto start = sim.clock->now();
  sim.bus->publish(Envelope::make("job.run"));
  REQUIRE(attempts.size() == 1);
  CHECK(sim.clock->next_due() == milliseconds(100));
  sim.clock->advance(milliseconds(99));
  CHECK(attempts.size() == 1);  // not a moment early
  sim.clock->advance(milliseconds(1));
  REQUIRE(attempts.size() == 2);
  sim.clock->advance(milliseconds(300));
  REQUIRE(attempts.size() == 3);
  sim.clock->advance(milliseconds(500));  // 900 capped at 500
  REQUIRE(attempts.size() == 4);
  CHECK(attempts[3] - start == milliseconds(900));
  sim.clock->advance(std::chrono::hours(1));
  CHECK(attempts.size() == 4);  // exactly max_attempts runs
  auto letters = sim.bus->dead_letters("workers");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].attempts == 4);
  CHECK(sim.bus->flush(milliseconds(0)));
}

TEST_CASE("max_attempts = N runs the handler exactly N times for every N", "[memory][retry]") {
  for (int n = 1; n <= 6; ++n) {
    SimulatedBus sim;
    int calls = 0;
    auto sub = sim.bus->subscribe({.pattern = "x.y", .group = "g", .retry = {.max_attempts = n}}, [&](const Envelope&) {
      ++calls;
      throw std::runtime_error("fail");
    });
    sim.bus->publish(Envelope::make("x.y"));
    sim.clock->advance(std::chrono::hours(1));
    INFO("max_attempts " << n);
    CHECK(calls == n);
    CHECK(sim.bus->dead_letters("g").size() == 1);
  }
}

TEST_CASE("an event waiting for its retry holds back later events of its key only", "[memory][ordering]") {
  SimulatedBus sim;
  std::vector<std::string> order;
  bool fail_first = true;
  auto sub = sim.bus->subscribe({.pattern = "acct.*", .group = "ledger", .retry = {.max_attempts = 3, .initial_delay = milliseconds(50), .jitter = 0}},
                                [&](const Envelope& e) {
                                  auto n = e.payload()["n"].get<std::string>();
                                  if (n == "k1-1" && fail_first) {
                                    fail_first = false;
                                    throw std::runtime_error("transient");
                                  }
                                  order.push_back(n);
                                });
  auto publish = [&](const std::string& key, const std::string& n) {
    Envelope e = Envelope::make("acct.moved", {{"n", n}});
    e.partitionkey = key;
    sim.bus->publish(e);
  };
  publish("k1", "k1-1");
  publish("k1", "k1-2");
  publish("k2", "k2-1");
  CHECK(order == std::vector<std::string>{"k2-1"});  // k1-2 waits behind k1-1
  sim.clock->advance(milliseconds(50));
  CHECK(order == std::vector<std::string>{"k2-1", "k1-1", "k1-2"});
}

TEST_CASE("a full queue makes publish wait, then fail with a clear error, and nothing is dropped", "[memory][backpressure]") {
  auto bus = make_bus("memory://?workers=1&queue_limit=2&publish_timeout=50ms");
  std::atomic<bool> release{false};
  std::atomic<int> handled{0};
  auto sub = bus->subscribe({.pattern = "slow.*", .group = "g"}, [&](const Envelope&) {
    while (!release) std::this_thread::yield();
    ++handled;
  });
  bus->publish(Envelope::make("slow.a"));
  bus->publish(Envelope::make("slow.b"));
  CHECK_THROWS_WITH(bus->publish(Envelope::make("slow.c")), Catch::Contains("queue full"));
  release = true;
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  CHECK(handled == 2);  // the two accepted events, not the refused one
  bus->publish(Envelope::make("slow.d"));
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  CHECK(handled == 3);
}

TEST_CASE("a slow or throwing handler never stops other handlers", "[memory]") {
  auto bus = make_bus("memory://?workers=2");
  std::atomic<bool> release{false};
  Recorder<std::string> fast;
  auto slow = bus->subscribe({.pattern = "t.*", .group = "slow"}, [&](const Envelope&) {
    while (!release) std::this_thread::yield();
  });
  auto bad = bus->subscribe({.pattern = "t.*", .group = "bad", .retry = RetryPolicy::none()},
                            [](const Envelope&) { throw std::logic_error("bug"); });
  auto good = bus->subscribe({.pattern = "t.*", .group = "fast"}, [&](const Envelope& e) { fast.add(e.id); });
  for (int i = 0; i < 5; ++i) bus->publish(Envelope::make("t.x"));
  CHECK(fast.wait_for(5, std::chrono::seconds(10)));
  release = true;
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  CHECK(bus->dead_letters("bad").size() == 5);
}

TEST_CASE("close finishes in-flight work and dead-letters retries still waiting", "[memory][close]") {
  SimulatedBus sim("memory://?workers=2");
  std::atomic<int> calls{0};
  auto sub = sim.bus->subscribe({.pattern = "a.*", .group = "g", .retry = {.max_attempts = 5}}, [&](const Envelope&) {
    ++calls;
    throw std::runtime_error("down");
  });
  sim.bus->publish(Envelope::make("a.b"));
  REQUIRE(wait_until([&] { return sim.clock->pending() == 1; }));
  sim.bus->close();
  auto letters = sim.bus->dead_letters("g");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason == "closed");
  CHECK(letters[0].attempts == 1);
  sim.clock->advance(std::chrono::hours(1));
  CHECK(calls == 1);
}

TEST_CASE("an event whose group lost every member is dead-lettered, not dropped", "[memory]") {
  SimulatedBus sim;
  auto sub = sim.bus->subscribe({.pattern = "a.*", .group = "g", .retry = {.max_attempts = 2, .initial_delay = milliseconds(10)}},
                                [](const Envelope&) { throw std::runtime_error("x"); });
  sim.bus->publish(Envelope::make("a.b"));
  sub.cancel();
  sim.clock->advance(milliseconds(100));
  auto letters = sim.bus->dead_letters("g");
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason == "no_subscriber");
}
