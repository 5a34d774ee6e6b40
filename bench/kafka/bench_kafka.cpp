// Kafka transport beside the raw librdkafka baseline (bench/raw/raw_kafka.hpp),
// doing the same work in the same run:
//   produce: N events of ~400 bytes, keys over 100 aggregate ids, one
//            publish(std::vector) call; idempotent producer, acks=all,
//            linger.ms=5, batch.num.messages=10000 on both sides;
//   consume: the N events with a fresh consumer group from the earliest
//            offset, committing handled offsets.
// The baseline writes the very record herald writes (structured mode: value
// = herald::encode, key = partitionkey, header content-type), encoded once
// before its timed loop; herald encodes inside its own. Then the publish ->
// handler latency at a steady 1,000 events/s.
//
//   bench_kafka [events=100000] [rounds=3]   (broker: HERALD_TEST_KAFKA_BROKERS, default 127.0.0.1:9092)
//
// Goal: herald >= 90% of the baseline, producing and consuming.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "raw_kafka.hpp"
#include "stats.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

constexpr int partitions = 3;

std::string brokers() {
  const char* b = std::getenv("HERALD_TEST_KAFKA_BROKERS");
  return b && *b ? b : "127.0.0.1:9092";
}

std::string run_id() { return std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007); }

// The producer settings both sides use.
const std::map<std::string, std::string> producer_props = {
    {"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"}, {"batch.num.messages", "10000"}};

// Order events of about 400 bytes on the wire, like the baseline's own workload.
std::vector<Envelope> make_events(std::size_t n) {
  static const char* const types[] = {"order.created", "order.paid", "order.shipped"};
  std::vector<Envelope> events;
  events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Envelope e = Envelope::make(types[i % 3], {{"order_id", i}, {"note", std::string(150, 'x')}}, "/bench/herald");
    e.partitionkey = "order-" + std::to_string(i % 100);
    events.push_back(std::move(e));
  }
  return events;
}

BusConfig herald_config(const std::string& prefix) {
  BusConfig c = BusConfig::from_url("kafka://" + brokers());
  c.options["topic_prefix"] = prefix;
  c.options["partitions"] = std::to_string(partitions);
  for (const auto& [k, v] : producer_props) c.options["kafka.producer." + k] = v;
  c.options["kafka.consumer.heartbeat.interval.ms"] = "250";
  c.options["kafka.consumer.session.timeout.ms"] = "6000";
  return c;
}

// Deletes the topics whose names start with one of `prefixes`, so repeated
// runs do not pile up data on the broker. Best effort: a failure is reported.
void delete_topics(const std::vector<std::string>& prefixes) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers().c_str(), err, sizeof err);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                        rd_kafka_destroy);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    std::fprintf(stderr, "bench_kafka: cleanup: %s\n", err);
    return;
  }
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  std::vector<rd_kafka_DeleteTopic_t*> doomed;
  for (int i = 0; i < md->topic_cnt; ++i)
    for (const auto& p : prefixes)
      if (std::string_view(md->topics[i].topic).substr(0, p.size()) == p) {
        doomed.push_back(rd_kafka_DeleteTopic_new(md->topics[i].topic));
        break;
      }
  rd_kafka_metadata_destroy(md);
  if (doomed.empty()) return;
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue(rd_kafka_queue_new(rk.get()), rd_kafka_queue_destroy);
  rd_kafka_DeleteTopics(rk.get(), doomed.data(), doomed.size(), nullptr, queue.get());
  if (rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 30000)) {
    if (rd_kafka_event_error(ev)) std::fprintf(stderr, "bench_kafka: cleanup: %s\n", rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_DeleteTopic_destroy_array(doomed.data(), doomed.size());
}

struct Rates {
  double produce = 0, consume = 0;
};

Rates run_raw(const std::vector<Envelope>& events, const std::string& topic) {
  RawKafkaConfig cfg;
  cfg.brokers = brokers();
  cfg.topic = topic;
  cfg.partitions = partitions;
  cfg.producer_props = producer_props;
  std::vector<RawKafkaMessage> messages;
  messages.reserve(events.size());
  for (const auto& e : events)  // herald's record, built before the clock starts
    messages.push_back({e.partitionkey, encode(e), {{"content-type", std::string(cloudevents_json)}}});
  raw_kafka_prepare(cfg);
  Rates r;
  r.produce = raw_kafka_produce(cfg, messages).per_second();
  r.consume = raw_kafka_consume(cfg, events.size()).per_second();
  return r;
}

Rates run_herald(const std::vector<Envelope>& events, const std::string& prefix, const std::string& group) {
  auto bus = make_bus(herald_config(prefix));
  Rates r;
  {
    // Create the topic and connect before the clock starts, as the baseline does.
    std::vector<Envelope> warm{events.front()};
    warm.front().id = uuid_v7();
    bus->publish(warm);
  }
  std::vector<Envelope> batch = events;
  auto start = SteadyClock::now();
  bus->publish(std::move(batch));
  r.produce = static_cast<double>(events.size()) / seconds_since(start);

  const std::size_t expected = events.size() + 1;  // with the warm-up event
  std::atomic<std::size_t> handled{0};
  std::mutex mutex;
  std::condition_variable all_done;
  SteadyClock::time_point first{}, last{};
  auto sub = bus->subscribe({.pattern = "order.*", .group = group, .start = StartFrom::earliest}, [&](const Envelope&) {
    std::size_t n = handled.fetch_add(1) + 1;
    if (n == 1) first = SteadyClock::now();
    if (n == expected) {
      std::lock_guard lock(mutex);
      last = SteadyClock::now();
      all_done.notify_all();
    }
  });
  {
    std::unique_lock lock(mutex);
    if (!all_done.wait_for(lock, std::chrono::seconds(120), [&] { return handled.load() >= expected; }))
      throw std::runtime_error("herald consumed only " + std::to_string(handled.load()) + " of " + std::to_string(expected));
  }
  r.consume = static_cast<double>(expected - 1) / std::chrono::duration<double>(last - first).count();
  if (!bus->flush(std::chrono::seconds(60))) throw std::runtime_error("herald: flush timed out after consuming");
  return r;
}

// Publish -> handler latency at a steady rate: `threads` publishers take
// turns, each publish blocking until its delivery report.
void run_latency(const std::string& prefix, const std::string& group) {
  constexpr int rate = 1000, seconds = 5, threads = 8;
  auto bus = make_bus(herald_config(prefix));
  std::mutex mutex;
  std::vector<double> samples;
  samples.reserve(rate * seconds);
  auto sub = bus->subscribe({.pattern = "order.*", .group = group}, [&](const Envelope& e) {
    auto sent = SteadyClock::time_point(SteadyClock::duration(e.payload()["sent"].get<std::int64_t>()));
    double us = std::chrono::duration<double, std::micro>(SteadyClock::now() - sent).count();
    std::lock_guard lock(mutex);
    samples.push_back(us);
  });
  // Warm-up: until events flow (the first fetches of a new member), then measure.
  for (int i = 0; i < 20; ++i) {
    Envelope e = Envelope::make("order.created", {{"sent", SteadyClock::now().time_since_epoch().count()}});
    e.partitionkey = "order-" + std::to_string(i);
    bus->publish(std::move(e));
  }
  if (!bus->flush(std::chrono::seconds(30))) throw std::runtime_error("latency run: warm-up not handled");
  {
    std::lock_guard lock(mutex);
    samples.clear();
  }
  const auto start = SteadyClock::now() + std::chrono::milliseconds(100);
  const int total = rate * seconds;
  std::vector<std::thread> publishers;
  for (int t = 0; t < threads; ++t)
    publishers.emplace_back([&, t] {
      for (int i = t; i < total; i += threads) {
        std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000LL * i / rate));
        Envelope e = Envelope::make("order.created", {{"sent", SteadyClock::now().time_since_epoch().count()}});
        e.partitionkey = "order-" + std::to_string(i % 100);
        bus->publish(std::move(e));
      }
    });
  for (auto& p : publishers) p.join();
  if (!bus->flush(std::chrono::seconds(30))) throw std::runtime_error("latency run: flush timed out");
  std::lock_guard lock(mutex);
  std::printf("  latency at %d events/s (%zu events): p50 %.0f us, p99 %.0f us, max %.0f us\n", rate, samples.size(),
              percentile_us(samples, 50), percentile_us(samples, 99), percentile_us(samples, 100));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
    const std::string run = run_id();
    auto events = make_events(n);
    std::printf("bench_kafka: %zu events of %zu bytes, %d partitions, %d rounds, broker %s\n", n,
                encode(events.front()).size(), partitions, rounds, brokers().c_str());
    Rates best_raw, best_herald;
    std::vector<double> produce_ratios, consume_ratios;
    for (int round = 0; round < rounds; ++round) {
      const std::string tag = run + "-" + std::to_string(round);
      Rates raw = run_raw(events, "herald-bench-raw." + tag);
      Rates her = run_herald(events, "herald-bench." + tag + ".", "bench-" + tag);
      delete_topics({"herald-bench-raw." + tag, "herald-bench." + tag + "."});
      std::printf("  round %d: produce raw %.0f/s herald %.0f/s; consume raw %.0f/s herald %.0f/s\n", round + 1,
                  raw.produce, her.produce, raw.consume, her.consume);
      best_raw.produce = std::max(best_raw.produce, raw.produce);
      best_raw.consume = std::max(best_raw.consume, raw.consume);
      best_herald.produce = std::max(best_herald.produce, her.produce);
      best_herald.consume = std::max(best_herald.consume, her.consume);
      if (raw.produce > 0) produce_ratios.push_back(her.produce / raw.produce);
      if (raw.consume > 0) consume_ratios.push_back(her.consume / raw.consume);
    }
    std::printf("best of %d rounds:\n", rounds);
    print_ratio("produce (delivery reports)", best_herald.produce, best_raw.produce, 0.90);
    print_ratio("consume (handler, committed)", best_herald.consume, best_raw.consume, 0.90);
    std::printf("per round (the fairer figure):\n");
    print_round_ratios("produce (delivery reports)", produce_ratios, 0.90);
    print_round_ratios("consume (handler, committed)", consume_ratios, 0.90);
    run_latency("herald-bench." + run + "-latency.", "bench-latency-" + run);
    delete_topics({"herald-bench." + run + "-latency."});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kafka: %s\n", e.what());
    return 1;
  }
}
