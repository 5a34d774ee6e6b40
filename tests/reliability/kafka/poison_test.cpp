// A poison event goes to the dead-letter topic after its attempts while
// events of other keys keep flowing past it.

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>

#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a poison event lands in the DLQ after its attempts while other keys keep flowing", "[kafka][reliability]") {
  auto retry_topic = GENERATE(std::string("true"), std::string("false"));
  INFO("retry_topic=" << retry_topic);
  KafkaFixture f({{"partitions", "2"}, {"retry_topic", retry_topic}, {"in_process_attempts", "1"}});
  const std::string group = f.group("shipping");
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.initial_delay = std::chrono::milliseconds(400);
  policy.max_delay = std::chrono::milliseconds(800);
  policy.jitter = 0;
  std::atomic<int> poison_runs{0};
  std::mutex mutex;
  std::set<std::string> ok;  // ids handled (a redelivery may repeat one)
  std::atomic<int> poison_runs_when_others_done{-1};
  constexpr int others = 500;
  auto sub = f.bus->subscribe({.pattern = "shipment.#", .group = group, .concurrency = 2, .retry = policy},
                              [&](const Envelope& e) {
                                if (e.partitionkey == "poison") {
                                  ++poison_runs;
                                  throw std::runtime_error("address does not exist");
                                }
                                std::lock_guard lock(mutex);
                                ok.insert(e.id);
                                if (ok.size() == static_cast<std::size_t>(others)) poison_runs_when_others_done = poison_runs.load();
                              });
  Envelope poison = Envelope::make("shipment.created", {{"n", -1}});
  poison.partitionkey = "poison";
  f.bus->publish(poison);
  std::vector<Envelope> rest;
  for (int i = 0; i < others; ++i) {
    Envelope e = Envelope::make("shipment.created", {{"n", i}});
    e.partitionkey = "parcel-" + std::to_string(i);
    rest.push_back(std::move(e));
  }
  f.bus->publish(std::move(rest));

  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return !(letters = f.bus->dead_letters(group)).empty(); }, deadline));
  REQUIRE(wait_until([&] { return poison_runs_when_others_done.load() >= 0; }, deadline));
  // Everything else was handled while the poison event still waited for its retries.
  CHECK(poison_runs_when_others_done.load() < 3);
  CHECK(poison_runs == 3);
  REQUIRE(letters.size() == 1);
  CHECK(letters.front().event.id == poison.id);
  CHECK(letters.front().attempts == 3);
  CHECK(letters.front().last_error == "address does not exist");
  REQUIRE(f.bus->flush(deadline));
}
