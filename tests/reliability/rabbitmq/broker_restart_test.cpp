#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "broker_control.hpp"
#include "herald/errors.hpp"
#include "herald/idempotency.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

constexpr int stream_size = 10'000;

// Reconnect quickly and keep publishes waiting through a restart.
std::map<std::string, std::string> patient() {
  return {{"publish_timeout", "180s"}, {"reconnect_delay", "100ms"}, {"reconnect_max_delay", "1s"}};
}

}  // namespace

TEST_CASE("a broker restart in the middle of a 10,000-event stream loses nothing and duplicates nothing in effect",
          "[rabbitmq][reliability][restart]") {
  const std::string how = GENERATE(as<std::string>{}, "restart", "kill9");
  INFO("broker " << how);
  const std::string ns = unique_name("restart");
  const std::string group = ns + "-ledger";
  auto producer = make_bus(isolated_config(ns, patient()));
  auto consumer = make_bus(isolated_config(ns, patient()));

  std::mutex mutex;
  std::set<std::string> effects;
  std::atomic<int> effect_count{0}, duplicates{0};
  auto store = std::make_shared<MemoryIdempotencyStore>();
  auto sub = consumer->subscribe(
      {.pattern = "ledger.#", .group = group, .concurrency = 4},
      idempotent(store, group,
                 [&](const Envelope& e) {
                   std::lock_guard lock(mutex);
                   effects.insert(e.id);
                   ++effect_count;
                 },
                 {.on_duplicate = [&](const Envelope&) { ++duplicates; }}));

  // A paced stream (about 2,000 events/s) so that the broker goes down in its middle.
  std::vector<std::string> published;
  std::atomic<int> sent{0};
  std::string publish_error;
  std::jthread publisher([&] {
    try {
      auto next = std::chrono::steady_clock::now();
      for (int i = 0; i < stream_size; i += 20) {
        std::vector<Envelope> batch;
        for (int j = i; j < i + 20; ++j) {
          Envelope e = Envelope::make(j % 2 ? "ledger.debited" : "ledger.credited", {{"seq", j}});
          e.partitionkey = "acct-" + std::to_string(j % 50);
          published.push_back(e.id);
          batch.push_back(std::move(e));
        }
        producer->publish(std::move(batch));
        sent += 20;
        next += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(next);  // pacing the load, not synchronising
      }
    } catch (const std::exception& e) {
      publish_error = e.what();
    }
  });

  REQUIRE(wait_until([&] { return sent.load() >= 3'000 && effect_count.load() >= 1'000; }, std::chrono::seconds(60)));
  if (how == "restart")
    rabbitmq_script("restart");
  else
    crash_and_restart_rabbitmq(Url::parse(amqp_url()).port ? Url::parse(amqp_url()).port : 5672);
  publisher.join();
  CHECK(publish_error.empty());
  CHECK(sent.load() == stream_size);

  REQUIRE(wait_until([&] {
    std::lock_guard lock(mutex);
    return effects.size() >= stream_size;
  }, std::chrono::seconds(180)));
  REQUIRE(consumer->flush(std::chrono::seconds(60)));
  std::lock_guard lock(mutex);
  CHECK(effects.size() == stream_size);
  CHECK(effect_count.load() == stream_size);  // exactly once in effect
  CHECK(std::set<std::string>(published.begin(), published.end()) == effects);
  CHECK(consumer->dead_letters(group).empty());
  WARN("duplicates suppressed by the idempotent consumer: " << duplicates.load());
}

TEST_CASE("while the broker is down publish waits publish_timeout, then fails with a clear error",
          "[rabbitmq][reliability][timeout]") {
  const std::string ns = unique_name("down");
  auto bus = make_bus(isolated_config(ns, {{"publish_timeout", "2s"}, {"reconnect_delay", "100ms"},
                                            {"reconnect_max_delay", "500ms"}}));
  bus->publish(Envelope::make("audit.logged", {{"n", 0}}));
  rabbitmq_script("stop");
  std::string what;
  auto started = std::chrono::steady_clock::now();
  try {
    bus->publish(Envelope::make("audit.logged", {{"n", 1}}));
  } catch (const TimeoutError& e) {
    what = e.what();
  } catch (const std::exception& e) {
    rabbitmq_script("start");
    FAIL("expected a TimeoutError, got: " << e.what());
  }
  auto waited = std::chrono::steady_clock::now() - started;
  rabbitmq_script("start");
  CHECK(waited >= std::chrono::milliseconds(1900));
  CHECK_THAT(what, Catch::Contains("not confirmed") && Catch::Contains("unreachable"));
  CHECK_THAT(what, !Catch::Contains(":" + Url::parse(amqp_url()).password + "@"));
  // Back to normal once the broker is.
  CHECK_NOTHROW(bus->publish(Envelope::make("audit.logged", {{"n", 2}})));
}
