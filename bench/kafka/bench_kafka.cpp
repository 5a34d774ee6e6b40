// Kafka transport beside the raw librdkafka baseline (bench/raw/raw_kafka.hpp),
// doing the same work in the same run:
//   produce: N events of ~400 bytes, keys over 100 aggregate ids, one
//            publish(std::vector) call; idempotent producer, acks=all,
//            linger.ms=5, batch.num.messages=10000 on both sides;
//   consume: the N events with a fresh consumer group from the earliest
//            offset, committing handled offsets. The baseline consumes the
//            records three times, each with a fresh group: reading them
//            only, parsing each value with nlohmann (a hand-written
//            consumer), and decoding each with herald's codec (herald's
//            decoding without its delivery).
// The baseline writes the very record herald writes (structured mode: value
// = herald::encode, key = partitionkey, header content-type), encoded once
// before its timed loop; herald encodes inside its own. Then the publish ->
// handler latency at 1k, 10k and 50k events/s, balanced and latency=low.
//
//   bench_kafka [events=100000] [rounds=3]   (broker: HERALD_TEST_KAFKA_BROKERS, default 127.0.0.1:9092;
//                                             HERALD_BENCH_KAFKA_LATENCY=0: the throughput rounds only;
//                                             HERALD_BENCH_KAFKA_CONCURRENCY=N: herald's lanes, default 1)
//
// Each consume phase also prints the CPU per record of each thread and the
// machine's idle share, first record to last (bench/support/thread_cpu.hpp):
// whether a side waits on one busy thread or is out of CPU.
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
#include "rate_latency.hpp"
#include "stats.hpp"
#include "thread_cpu.hpp"
#include "tracing_note.hpp"

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
  // librdkafka's debug contexts (e.g. "cgrp,fetch") for the consumer, to see where a round's time goes.
  if (const char* debug = std::getenv("HERALD_BENCH_KAFKA_DEBUG"); debug && *debug) c.options["kafka.consumer.debug"] = debug;
  return c;
}

struct Rates {
  double produce = 0, consume = 0;
  double consume_parsed = 0;  // the baseline only: raw librdkafka + nlohmann parse of every value
  double consume_decoded = 0;  // the baseline only: raw librdkafka + herald's decode of every value
  double consume_cpu_us = 0;  // CPU time per consumed record (every thread of the process)
  // From the first record consumed to the last: CPU by thread, and the
  // machine's idle share (does the consumer wait, or lack CPU?).
  PhaseCpu consume_phase;
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
  const double cpu0 = cpu_seconds();
  cfg.on_first_record = [&] { r.consume_phase.first(); };
  cfg.on_last_record = [&] { r.consume_phase.last(); };
  r.consume = raw_kafka_consume(cfg, events.size()).per_second();
  cfg.on_first_record = cfg.on_last_record = nullptr;
  r.consume_cpu_us = (cpu_seconds() - cpu0) * 1e6 / static_cast<double>(events.size());
  cfg.parse_values = true;  // a second fresh group reads the same records and parses them
  r.consume_parsed = raw_kafka_consume(cfg, events.size()).per_second();
  // A third fresh group decodes each value with herald's codec into one
  // reused envelope, as herald's lane does: the rate a consumer reaches
  // that does herald's decoding and none of its delivery (tracking,
  // offsets, retries, metrics, the hand-off to a lane).
  cfg.parse_values = false;
  Envelope spare;
  const DecodeOptions options;
  cfg.per_value = [&](const char* data, std::size_t size) {
    decode_into(std::string_view(data, size), options, spare);
    return spare.id.size();
  };
  r.consume_decoded = raw_kafka_consume(cfg, events.size()).per_second();
  cfg.per_value = nullptr;
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
  const double cpu0 = cpu_seconds();
  // HERALD_BENCH_KAFKA_CONCURRENCY: the subscription's lanes (default 1, as a subscription's).
  const int lanes = std::max(1, std::atoi(env_or("HERALD_BENCH_KAFKA_CONCURRENCY", "1").c_str()));
  auto sub = bus->subscribe({.pattern = "order.*", .group = group, .concurrency = lanes, .start = StartFrom::earliest},
                            [&](const Envelope&) {
    std::size_t n = handled.fetch_add(1) + 1;
    if (n == 1) {
      std::lock_guard lock(mutex);  // with two lanes, the last record's may read the snapshot next
      r.consume_phase.first();
      first = SteadyClock::now();
    }
    if (n == expected) {
      std::lock_guard lock(mutex);
      last = SteadyClock::now();
      r.consume_phase.last();
      all_done.notify_all();
    }
  });
  {
    std::unique_lock lock(mutex);
    if (!all_done.wait_for(lock, std::chrono::seconds(120), [&] { return handled.load() >= expected; }))
      throw std::runtime_error("herald consumed only " + std::to_string(handled.load()) + " of " + std::to_string(expected));
  }
  r.consume = static_cast<double>(expected - 1) / std::chrono::duration<double>(last - first).count();
  r.consume_cpu_us = (cpu_seconds() - cpu0) * 1e6 / static_cast<double>(expected);
  if (!bus->flush(std::chrono::seconds(60))) throw std::runtime_error("herald: flush timed out after consuming");
  return r;
}

// Raw librdkafka at the same rate with the properties herald's setting
// gives its clients (client_config.cpp): what the broker and the machine
// take, which no client can go under.
LatencyBaseline raw_latency(const std::string& topic, const std::string& setting, double rate) {
  const bool low = setting == "low";
  RawKafkaConfig cfg;
  cfg.brokers = brokers();
  cfg.topic = topic;
  cfg.partitions = partitions;
  cfg.producer_props = {{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", low ? "0" : "5"}};
  cfg.consumer_props = {{"fetch.wait.max.ms", low ? "10" : "100"}};
  if (low) cfg.producer_props["socket.nagle.disable"] = cfg.consumer_props["socket.nagle.disable"] = "true";
  RawLatency raw = raw_kafka_latency(cfg, rate, 3.0);
  return latency_baseline("raw librdkafka", raw.achieved, std::move(raw.samples_us));
}

// Publish -> handler latency at 1k, 10k and 50k events/s, with the
// default setting and with latency=low (docs/kafka.md), each beside raw
// librdkafka with the same client settings.
void run_latency(const std::string& prefix, const std::string& group) {
  for (const std::string setting : {"balanced", "low"})
    for (double rate : {1'000.0, 10'000.0, 50'000.0}) {
      const LatencyBaseline raw =
          raw_latency(prefix + "raw-" + setting + "-" + std::to_string(static_cast<long>(rate)), setting, rate);
      BusConfig config = herald_config(prefix);
      // The benchmark's own linger (the throughput rounds') would hide the setting's.
      config.options.erase("kafka.producer.linger.ms");
      config.options["latency"] = setting;
      auto bus = make_bus(config);
      const std::string tag = setting + "-" + std::to_string(static_cast<long>(rate));
      RateLatency r = run_rate_latency(*bus, group + "-" + tag, rate, 3.0);
      report_rate_latency(setting, rate, r, setting == "low" && rate == 1'000.0 ? 3'000 : 0, &raw);
    }
}

}  // namespace

int main(int argc, char** argv) {
  bench_name() = "kafka";
  try {
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
    const std::string run = run_id();
    auto events = make_events(n);
    std::printf("bench_kafka: %zu events of %zu bytes, %d partitions, %d rounds, broker %s\n", n,
                encode(events.front()).size(), partitions, rounds, brokers().c_str());
    Rates best_raw, best_herald;
    print_tracing("start");
    std::vector<double> produce_ratios, consume_ratios, parsed_ratios, decoded_ratios, cpu_raw, cpu_herald;
    for (int round = 0; round < rounds; ++round) {
      const std::string tag = run + "-" + std::to_string(round);
      Rates raw = run_raw(events, "herald-bench-raw." + tag);
      Rates her = run_herald(events, "herald-bench." + tag + ".", "bench-" + tag);
      raw_kafka_delete_topics(brokers(), {"herald-bench-raw." + tag, "herald-bench." + tag + "."});
      std::printf("  round %d: produce raw %.0f/s herald %.0f/s; consume raw %.0f/s raw+parse %.0f/s raw+decode %.0f/s"
                  " herald %.0f/s; consume CPU per record raw %.2f us herald %.2f us\n",
                  round + 1, raw.produce, her.produce, raw.consume, raw.consume_parsed, raw.consume_decoded, her.consume,
                  raw.consume_cpu_us, her.consume_cpu_us);
      raw.consume_phase.print("raw", events.size());
      her.consume_phase.print("herald", events.size());
      cpu_raw.push_back(raw.consume_cpu_us);
      cpu_herald.push_back(her.consume_cpu_us);
      best_raw.produce = std::max(best_raw.produce, raw.produce);
      best_raw.consume = std::max(best_raw.consume, raw.consume);
      best_raw.consume_parsed = std::max(best_raw.consume_parsed, raw.consume_parsed);
      best_raw.consume_decoded = std::max(best_raw.consume_decoded, raw.consume_decoded);
      best_herald.produce = std::max(best_herald.produce, her.produce);
      best_herald.consume = std::max(best_herald.consume, her.consume);
      if (raw.produce > 0) produce_ratios.push_back(her.produce / raw.produce);
      if (raw.consume > 0) consume_ratios.push_back(her.consume / raw.consume);
      if (raw.consume_parsed > 0) parsed_ratios.push_back(her.consume / raw.consume_parsed);
      if (raw.consume_decoded > 0) decoded_ratios.push_back(her.consume / raw.consume_decoded);
    }
    std::printf("best of %d rounds:\n", rounds);
    print_ratio("produce (delivery reports), best round", best_herald.produce, best_raw.produce, 0.90, "raw librdkafka");
    print_ratio("consume (handler, committed), best round", best_herald.consume, best_raw.consume, 0.90, "raw librdkafka");
    print_ratio("consume vs raw + nlohmann parse, best round", best_herald.consume, best_raw.consume_parsed, 0,
                "raw librdkafka + nlohmann::json parse");
    print_ratio("consume vs raw + herald decode, best round", best_herald.consume, best_raw.consume_decoded, 0,
                "raw librdkafka + herald::decode_into");
    std::printf("per round (the fairer figure):\n");
    print_round_ratios("produce (delivery reports)", produce_ratios, 0.90, "raw librdkafka");
    print_round_ratios("consume (handler, committed)", consume_ratios, 0.90, "raw librdkafka");
    print_round_ratios("consume vs raw + nlohmann parse", parsed_ratios, 0, "raw librdkafka + nlohmann::json parse");
    print_round_ratios("consume vs raw + herald decode", decoded_ratios, 0, "raw librdkafka + herald::decode_into");
    {
      const double raw_cpu = median(cpu_raw), herald_cpu = median(cpu_herald);
      std::printf("  consume CPU per record (median round): herald %.2f us, raw librdkafka %.2f us (%.2fx)\n", herald_cpu,
                  raw_cpu, herald_cpu / raw_cpu);
      record_result("consume CPU per record", "us", herald_cpu, raw_cpu, "raw librdkafka", 0, true);
    }
    // HERALD_BENCH_KAFKA_LATENCY=0 leaves the latency runs out: a profile
    // (perf record) then holds the throughput rounds alone.
    if (const char* l = std::getenv("HERALD_BENCH_KAFKA_LATENCY"); !l || std::string(l) != "0") {
      run_latency("herald-bench." + run + "-latency.", "bench-latency-" + run);
      raw_kafka_delete_topics(brokers(), {"herald-bench." + run + "-latency."});
    }
    print_tracing("end");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kafka: %s\n", e.what());
    return 1;
  }
}
