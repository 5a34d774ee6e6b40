// kill -9 of the Kafka broker leading most of a group's partitions in the
// middle of a 10,000-event stream, on a three-broker KRaft cluster with
// replication factor 3 and min.insync.replicas=2 (scripts/brokers/kafka
// cluster start).

#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <thread>

#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/idempotency.hpp"
#include "stream_check.hpp"
#include "test_options.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

constexpr int publishers = 2;
constexpr int keys_per_publisher = 25;
constexpr int per_key = 200;  // 2 x 25 x 200 = 10,000 events

std::string cluster_brokers() {
  std::string brokers = env_or("HERALD_TEST_KAFKA_CLUSTER_BROKERS", "");
  if (brokers.empty()) brokers = broker_script("kafka", "cluster brokers");
  while (!brokers.empty() && (brokers.back() == '\n' || brokers.back() == ' ')) brokers.pop_back();
  return brokers;
}

BusConfig cluster_config(const std::string& ns) {
  BusConfig c = BusConfig::from_url("kafka://" + cluster_brokers());
  c.options["topic_prefix"] = "herald-cluster." + ns + ".";
  c.options["replication_factor"] = "3";
  quick_kafka(c);
  c.options["kafka.reconnect.backoff.max.ms"] = "500";
  return c;
}

// The node id of the broker leading most partitions of `topic` (-1 if unknown).
int busiest_leader(const std::string& brokers, const std::string& topic) {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) return -1;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int leader = -1;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
    std::map<int, int> led;
    for (int i = 0; i < md->topics[0].partition_cnt; ++i) ++led[md->topics[0].partitions[i].leader];
    int most = 0;
    for (const auto& [id, n] : led)
      if (id >= 0 && n > most) most = n, leader = id;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return leader;
}

}  // namespace

TEST_CASE("kill -9 of the broker leading the group's partitions mid-stream: every event applied once, in order per key",
          "[kafka][cluster][failover]") {
  ClusterForTest cluster("kafka");  // at the end, whatever the outcome: the killed node back, or the cluster stopped if started here
  const std::string ns = unique_name("failover");
  const std::string group = ns + "-ledger";
  StreamCheck check;
  std::atomic<int> duplicates{0};
  auto store = std::make_shared<MemoryIdempotencyStore>();
  auto consumer = make_bus(cluster_config(ns));
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

  REQUIRE(wait_until([&] { return check.effects() >= 3'000; }, std::chrono::seconds(90)));
  const int leader = busiest_leader(cluster_brokers(), "herald-cluster." + ns + ".ledger");
  REQUIRE(leader >= 1);
  REQUIRE(leader <= 3);
  check.kill_happened();
  broker_script("kafka", "cluster kill9 " + std::to_string(leader));
  const int effects_at_kill = check.effects();

  threads.clear();  // joins the publishers
  for (const auto& e : errors) CHECK(e == "");
  constexpr int total = publishers * keys_per_publisher * per_key;
  const bool all = wait_until([&] { return check.effects() >= total; }, std::chrono::seconds(90));
  CHECK(consumer->flush(std::chrono::seconds(60)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a late duplicate would show as a broken key
  const auto failover = check.failover_time();
  std::printf("kafka cluster failover: killed broker %d (leader of most of the group's partitions) after %d of %d "
              "events took effect; every key flowing again after %lld ms; %d duplicate deliveries suppressed, %d batches published again\n",
              leader, effects_at_kill, total, static_cast<long long>(failover.count()), duplicates.load(), republished.load());
  REQUIRE(all);
  CHECK(check.effects() == total);  // exactly once in effect
  CHECK(check.keys() == static_cast<std::size_t>(publishers * keys_per_publisher));
  const auto broken = check.broken_keys(per_key);
  INFO("first broken keys: " << (broken.empty() ? "" : broken.front()));
  CHECK(broken.empty());
  CHECK(failover.count() >= 0);
  CHECK(consumer->dead_letters(group).empty());
}
