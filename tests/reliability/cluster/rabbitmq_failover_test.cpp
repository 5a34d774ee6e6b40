// kill -9 of the RabbitMQ node leading a group's quorum queue in the middle
// of a 10,000-event stream, on a three-node cluster
// (scripts/brokers/rabbitmq cluster start).
//
// Twice: with a single active consumer, order per key holds across the kill;
// with competing consumers (the default) RabbitMQ may hand the new consumer
// an event before it gives back the earlier event of its key that the dead
// consumer held, so exactly-once is asserted there, and that the bus warned
// where a key broke (docs/rabbitmq.md, "Clusters").

#include <catch2/catch.hpp>

#include <thread>

#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/idempotency.hpp"
#include "log_capture.hpp"
#include "stream_check.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

constexpr int publishers = 2;
constexpr int keys_per_publisher = 25;
constexpr int per_key = 200;  // 2 x 25 x 200 = 10,000 events

std::string cluster_url() {
  std::string url = env_or("HERALD_TEST_AMQP_CLUSTER_URL", "");
  if (url.empty()) url = broker_script("rabbitmq", "cluster url");
  while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
  return url;
}

BusConfig cluster_config(const std::string& ns) {
  BusConfig c = BusConfig::from_url(cluster_url());
  c.options["exchange"] = "herald.cluster." + ns;
  c.options["queue_prefix"] = "herald.cluster.";
  c.options["queue_type"] = "quorum";
  c.options["queue_expires"] = "10m";
  c.options["publish_timeout"] = "60s";
  c.options["reconnect_delay"] = "50ms";
  c.options["reconnect_max_delay"] = "500ms";
  c.options["connect_timeout"] = "3s";
  c.options["heartbeat"] = "5s";
  return c;
}

enum class Consumers { single_active, competing };

// One kill -9 in the middle of the stream; checks every event applied once,
// and, with a single active consumer, in order per key.
void failover(Consumers consumers) {
  ClusterForTest cluster("rabbitmq");  // at the end, whatever the outcome: the killed node back, or the cluster stopped if started here
  LogCapture logs({LogFormat::text, LogLevel::info});
  const std::string ns = unique_name("failover");
  const std::string group = ns + "-ledger";
  StreamCheck check;
  std::atomic<int> duplicates{0};
  auto store = std::make_shared<MemoryIdempotencyStore>();
  BusConfig consumer_config = cluster_config(ns);
  if (consumers == Consumers::single_active) consumer_config.options["single_active_consumer"] = "true";
  auto consumer = make_bus(consumer_config);
  auto sub = consumer->subscribe({.pattern = "ledger.#", .group = group, .concurrency = 4},
                                 idempotent(store, group, [&](const Envelope& e) { check.applied(e); },
                                            {.on_duplicate = [&](const Envelope&) { ++duplicates; }}));

  std::vector<std::string> errors(publishers);
  std::atomic<int> republished{0};
  std::vector<std::jthread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      try {
        auto bus = make_bus(cluster_config(ns));
        auto next = std::chrono::steady_clock::now();
        for (int seq = 0; seq < per_key; ++seq) {
          std::vector<Envelope> batch;
          for (int k = 0; k < keys_per_publisher; ++k)
            batch.push_back(check.make("ledger.posted", "p" + std::to_string(p) + "-acct-" + std::to_string(k), seq));
          const auto started = StreamCheck::Clock::now();
          for (const auto& e : batch) check.published(e.partitionkey, seq, started);
          // A broker may refuse (nack) what it cannot store while its queue
          // elects a new leader: the publisher sends the batch again, as an
          // application would (the consumer is idempotent).
          for (auto retry_until = StreamCheck::Clock::now() + std::chrono::seconds(60);;) {
            try {
              bus->publish(batch);
              break;
            } catch (const herald::PublishError&) {
              if (StreamCheck::Clock::now() >= retry_until) throw;
              ++republished;
            }
          }
          next += std::chrono::milliseconds(25);
          std::this_thread::sleep_until(next);  // pacing the load (about 2,000 events/s), not synchronising
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(p)] = e.what();
      }
    });
  }

  REQUIRE(wait_until([&] { return check.effects() >= 3'000; }, std::chrono::seconds(60)));
  const std::string leader = broker_script("rabbitmq", "cluster leader herald.cluster." + group);
  const auto at = leader.find("herald-c");
  REQUIRE(at != std::string::npos);
  const std::string node = leader.substr(at + 8, 1);
  check.kill_happened();
  broker_script("rabbitmq", "cluster kill9 " + node);
  const int effects_at_kill = check.effects();

  threads.clear();  // joins the publishers
  for (const auto& e : errors) CHECK(e == "");
  constexpr int total = publishers * keys_per_publisher * per_key;
  const bool all = wait_until([&] { return check.effects() >= total; }, std::chrono::seconds(90));
  CHECK(consumer->flush(std::chrono::seconds(60)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a late duplicate would show as a broken key
  const auto flowing_after = check.failover_time();
  const auto broken = check.broken_keys(per_key);
  const bool announced = !logs.matching("herald.rabbitmq", "order per key may be broken").empty();
  std::printf("rabbitmq cluster failover (%s consumer): killed %s (leader of the group's quorum queue) after %d of %d "
              "events took effect; every key flowing again after %lld ms; %d duplicate deliveries suppressed, %d batches "
              "published again; %zu key(s) out of order; late redeliveries %s\n",
              consumers == Consumers::single_active ? "single active" : "competing",
              leader.substr(at, leader.find_first_of(" \n", at) - at).c_str(), effects_at_kill, total,
              static_cast<long long>(flowing_after.count()), duplicates.load(), republished.load(), broken.size(),
              announced ? "announced" : "not seen");
  REQUIRE(all);
  CHECK(check.effects() == total);  // exactly once in effect
  CHECK(check.keys() == static_cast<std::size_t>(publishers * keys_per_publisher));
  CHECK(check.lost_or_repeated(per_key) == std::vector<std::string>{});
  if (consumers == Consumers::single_active) {
    CHECK(broken == std::vector<std::string>{});  // names where a key broke
    CHECK_FALSE(announced);  // what the dead consumer held came first
  }
  // Where the broker broke a key's order, the bus said it may have.
  if (!broken.empty()) CHECK(announced);
  CHECK(flowing_after.count() >= 0);
  CHECK(consumer->dead_letters(group).empty());
}

}  // namespace

// The returns of the dead consumer come before anything the new one gets:
// RabbitMQ activates the waiting consumer only after giving back what the
// dead one held.
TEST_CASE("kill -9 of the node leading the group's quorum queue mid-stream, single active consumer: every event applied "
          "once, in order per key",
          "[rabbitmq][cluster][failover]") {
  failover(Consumers::single_active);
}

TEST_CASE("kill -9 of the node leading the group's quorum queue mid-stream, competing consumers: every event applied once",
          "[rabbitmq][cluster][failover]") {
  failover(Consumers::competing);
}
