// Cost curves: how throughput and CPU time per event grow with the work, on
// every transport built in. One dimension varies at a time, the others stay
// at their base (1 KiB payload, 1 group, concurrency 1, 3 partitions):
//   payload size   100 B, 1 KiB, 10 KiB, 100 KiB
//   groups         1, 4, 16      (every group gets every event)
//   concurrency    1, 4, 16      (handlers of one subscription at once)
//   partitions     1, 3, 12      (Kafka only)
// A point publishes N events in batches of 1,000 and waits until every group
// handled them all; throughput counts deliveries (events x groups) per
// second from the first publish, CPU time is the process's user + system
// time (getrusage) over the same span, per delivery. N shrinks with the
// payload so a point moves at most ~200 MB.
//
// The payload curve of RabbitMQ and Kafka runs the raw client (rabbitmq-c,
// librdkafka) on the same records in the same run, publish then consume, and
// prints the ratio; the memory transport's baseline (EventEmitter2) is
// bench_memory's.
//
// Writes <dir>/<transport>-<dimension>.dat (x, deliveries/s, CPU us per
// delivery, raw events/s or 0) for scripts/bench --plot, and one record per
// point to results.json.
//   bench_curves [dir=build/bench/curves] [transports=memory,rabbitmq,kafka]

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "raw_rate.hpp"
#include "stats.hpp"
#ifdef HERALD_CURVES_RAW_KAFKA
#include "raw_kafka.hpp"
#endif
#ifdef HERALD_CURVES_RAW_RABBITMQ
#include "raw_rabbitmq.hpp"
#endif

using namespace herald;
using namespace herald::bench;

namespace {

// This run's names (topics, exchanges, groups): a second run beside it owns its own.
const std::string& run_id() {
  static const std::string id =
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000007);
  return id;
}

// herald's figure runs from the first publish to the last handler, so the raw
// client's counts its publish and its consume: one after the other (herald
// overlaps them, which favours herald a little; the raw consumer alone is
// bench_kafka's and bench_rabbitmq's baseline).
[[maybe_unused]] double end_to_end(const RawRate& publish, const RawRate& consume) {
  const double seconds = publish.seconds + consume.seconds;
  return seconds > 0 ? static_cast<double>(consume.messages) / seconds : 0;
}

struct Point {
  int payload = 1024, groups = 1, concurrency = 1, partitions = 3;
};

struct Figures {
  double deliveries_per_s = 0;
  double cpu_us_per_delivery = 0;
  double raw_per_s = 0;  // the raw client on the same records (payload curve of the brokers), else 0
};

struct Transport {
  std::string name;
  std::size_t base_events;
  std::function<BusConfig(const Point&, const std::string& tag)> config;
  std::function<double(const std::vector<Envelope>&, const Point&, const std::string& tag)> raw;  // may be empty
};

std::vector<Envelope> make_events(std::size_t n, int payload) {
  std::vector<Envelope> events;
  events.reserve(n);
  const std::string note(static_cast<std::size_t>(std::max(0, payload - 40)), 'x');
  for (std::size_t i = 0; i < n; ++i) {
    Envelope e = Envelope::make("order.created", {{"n", i}, {"note", note}}, "/bench/curves");
    e.partitionkey = "order-" + std::to_string(i % 100);
    events.push_back(std::move(e));
  }
  return events;
}

Figures measure(const Transport& t, const Point& p, const std::string& tag) {
  const std::size_t n = std::max<std::size_t>(
      200, std::min<std::size_t>(t.base_events, static_cast<std::size_t>(200'000'000 / std::max(1, p.payload))));
  const std::vector<Envelope> events = make_events(n, p.payload);
  auto bus = make_bus(t.config(p, tag));
  std::atomic<std::size_t> handled{0};
  const std::size_t expected = n * static_cast<std::size_t>(p.groups);
  std::mutex mutex;
  std::condition_variable done;
  SteadyClock::time_point last{};
  std::vector<Subscription> subs;
  for (int g = 0; g < p.groups; ++g)
    subs.push_back(bus->subscribe({.pattern = "order.*", .group = "curves-" + tag + "-g" + std::to_string(g),
                                   .concurrency = p.concurrency},
                                  [&](const Envelope&) {
                                    if (handled.fetch_add(1) + 1 == expected) {
                                      std::lock_guard lock(mutex);
                                      last = SteadyClock::now();
                                      done.notify_all();
                                    }
                                  }));
  // The batches are made before the clock starts: the copies are the benchmark's, not herald's.
  std::vector<std::vector<Envelope>> batches;
  for (std::size_t i = 0; i < n; i += 1000)
    batches.emplace_back(events.begin() + static_cast<std::ptrdiff_t>(i),
                         events.begin() + static_cast<std::ptrdiff_t>(std::min(n, i + 1000)));
  const double cpu0 = cpu_seconds();
  const auto start = SteadyClock::now();
  for (auto& batch : batches) bus->publish(std::move(batch));
  {
    std::unique_lock lock(mutex);
    if (!done.wait_for(lock, std::chrono::seconds(300), [&] { return handled.load() >= expected; }))
      throw std::runtime_error(t.name + ": handled " + std::to_string(handled.load()) + " of " + std::to_string(expected));
  }
  const double wall = std::chrono::duration<double>(last - start).count();
  const double cpu = cpu_seconds() - cpu0;
  subs.clear();
  Figures f;
  f.deliveries_per_s = static_cast<double>(expected) / wall;
  f.cpu_us_per_delivery = cpu * 1e6 / static_cast<double>(expected);
  if (t.raw) f.raw_per_s = t.raw(events, p, tag);
  return f;
}

struct Dimension {
  std::string name, unit;
  std::vector<int> values;
  std::function<void(Point&, int)> set;
  bool kafka_only = false;
  bool with_raw = false;
};

void run_transport(const Transport& t, const std::string& dir) {
  const std::vector<Dimension> dimensions = {
      {"payload", "bytes", {100, 1024, 10240, 102400}, [](Point& p, int v) { p.payload = v; }, false, true},
      {"groups", "groups", {1, 4, 16}, [](Point& p, int v) { p.groups = v; }},
      {"concurrency", "handlers", {1, 4, 16}, [](Point& p, int v) { p.concurrency = v; }},
      {"partitions", "partitions", {1, 3, 12}, [](Point& p, int v) { p.partitions = v; }, true},
  };
  const std::string run = run_id();
  for (const auto& d : dimensions) {
    if (d.kafka_only && t.name != "kafka") continue;
    std::ofstream out(dir + "/" + t.name + "-" + d.name + ".dat");
    out << "# " << d.name << " (" << d.unit << ")\tdeliveries/s\tCPU us per delivery\traw events/s\n";
    for (int v : d.values) {
      Point p;
      d.set(p, v);
      const std::string tag = run + "-" + d.name + "-" + std::to_string(v);
      Transport used = t;
      if (!d.with_raw) used.raw = nullptr;
      Figures f = measure(used, p, tag);
      std::printf("  %-8s %-11s %7d %-10s %12.0f deliveries/s  %8.2f us CPU each", t.name.c_str(), d.name.c_str(), v,
                  d.unit.c_str(), f.deliveries_per_s, f.cpu_us_per_delivery);
      if (f.raw_per_s > 0) std::printf("   raw %10.0f/s  ratio %5.2fx", f.raw_per_s, f.deliveries_per_s / f.raw_per_s);
      std::printf("\n");
      std::fflush(stdout);
      out << v << '\t' << f.deliveries_per_s << '\t' << f.cpu_us_per_delivery << '\t' << f.raw_per_s << '\n';
      const std::string name = t.name + " " + d.name + "=" + std::to_string(v);
      record_result(name + " throughput", "deliveries/s", f.deliveries_per_s, f.raw_per_s,
                    f.raw_per_s > 0 ? (t.name == "kafka" ? "raw librdkafka" : "raw rabbitmq-c") : "", 0);
      record_result(name + " CPU per delivery", "us", f.cpu_us_per_delivery, 0, "", 0, true);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench_name() = "curves";
  const std::string dir = argc > 1 ? argv[1] : "build/bench/curves";
  const std::string wanted = argc > 2 ? argv[2] : "memory,rabbitmq,kafka";
  std::vector<Transport> transports;
  transports.push_back({"memory", 200'000, [](const Point&, const std::string&) {
                          return BusConfig::from_url("memory://?workers=2&queue_limit=1000000");
                        }, nullptr});
#ifdef HERALD_CURVES_RAW_RABBITMQ
  const int amqp_port = std::atoi(env_or("HERALD_RABBITMQ_PORT", "5672").c_str());
  transports.push_back(
      {"rabbitmq", 20'000,
       [amqp_port](const Point&, const std::string& tag) {
         BusConfig c = BusConfig::from_url("amqp://guest:guest@127.0.0.1:" + std::to_string(amqp_port) + "/");
         c.options["exchange"] = "herald.curves." + tag;
         c.options["queue_prefix"] = "herald.curves.";
         c.options["queue_expires"] = "10m";  // the broker removes each point's queues after the run
         c.options["dead_letter_expires"] = "10m";
         // The raw baseline's window and prefetch (bench_rabbitmq's settings).
         c.options["confirm_window"] = "256";
         c.options["prefetch_multiplier"] = "256";
         return c;
       },
       [amqp_port](const std::vector<Envelope>& events, const Point&, const std::string& tag) {
         RawRabbitConfig cfg;
         cfg.port = amqp_port;
         cfg.exchange = "herald.curves.raw." + tag;
         cfg.queue = cfg.exchange + ".q";
         std::vector<std::string> bodies, keys, ids;
         for (const auto& e : events) {
           bodies.push_back(encode(e));
           keys.push_back(e.type);
           ids.push_back(e.id);
         }
         raw_rabbitmq_prepare(cfg);
         const RawRate published = raw_rabbitmq_publish(cfg, bodies, keys, ids);  // before the consume: sequenced
         return end_to_end(published, raw_rabbitmq_consume(cfg, bodies.size()));
       }});
#endif
#ifdef HERALD_CURVES_RAW_KAFKA
  const std::string brokers = env_or("HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:9092");
  transports.push_back(
      {"kafka", 50'000,
       [brokers](const Point& p, const std::string& tag) {
         BusConfig c = BusConfig::from_url("kafka://" + brokers);
         c.options["topic_prefix"] = "herald-curves." + tag + ".";
         c.options["partitions"] = std::to_string(p.partitions);
         return c;
       },
       [brokers](const std::vector<Envelope>& events, const Point& p, const std::string& tag) {
         RawKafkaConfig cfg;
         cfg.brokers = brokers;
         cfg.topic = "herald-curves-raw." + tag;
         cfg.partitions = p.partitions;
         std::vector<RawKafkaMessage> messages;
         for (const auto& e : events) messages.push_back({e.partitionkey, encode(e), {{"content-type", std::string(cloudevents_json)}}});
         raw_kafka_prepare(cfg);
         const RawRate produced = raw_kafka_produce(cfg, messages);  // before the consume: sequenced
         return end_to_end(produced, raw_kafka_consume(cfg, messages.size()));
       }});
#endif
  try {
    std::filesystem::create_directories(dir);
    std::printf("cost curves: throughput and CPU per delivery (getrusage), data in %s\n", dir.c_str());
    for (const auto& t : transports)
      if (wanted.find(t.name) != std::string::npos) run_transport(t, dir);
#ifdef HERALD_CURVES_RAW_KAFKA
    raw_kafka_delete_topics(brokers, {"herald-curves." + run_id(), "herald-curves-raw." + run_id()});
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_curves: %s\n", e.what());
    return 1;
  }
  return 0;
}
