// RabbitMQ transport beside the raw rabbitmq-c baseline (bench/raw/raw_rabbitmq.hpp),
// doing the same work in the same run:
//   publish: N persistent events, publisher confirms, 256 in flight;
//   consume: the N events from a queue, manual acks, prefetch 256.
// The baseline sends the very bytes herald puts on the wire (herald::encode,
// done once before its timed loop); herald encodes inside its own. Then the
// publish -> handler latency at 1k, 10k and 50k events/s.
//
//   bench_rabbitmq [events=50000] [rounds=5]     (broker: HERALD_RABBITMQ_PORT, default 5672)
//
// Goal: herald >= 95% of the baseline, publishing and consuming. Rounds
// alternate which side goes first; a shared machine shifts both, so besides
// the ratio of the median rates the median of each round's own ratio is shown.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "raw_rabbitmq.hpp"
#include "rate_latency.hpp"
#include "stats.hpp"
#include "thread_cpu.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

constexpr int window = 256;  // confirm window and prefetch, both sides

int port() {
  const char* p = std::getenv("HERALD_RABBITMQ_PORT");
  return p && *p ? std::atoi(p) : 5672;
}

std::string url() { return "amqp://guest:guest@127.0.0.1:" + std::to_string(port()) + "/"; }

std::string run_id() { return std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007); }

// Order events of about 400 bytes on the wire, like the baseline's own workload.
std::vector<Envelope> make_events(std::size_t n) {
  static const char* const types[] = {"order.created", "order.paid", "order.shipped"};
  std::vector<Envelope> events;
  events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Envelope e = Envelope::make(types[i % 3], {{"order_id", i}, {"note", std::string(200, 'x')}}, "/bench/herald");
    e.subject = "order-" + std::to_string(i);
    events.push_back(std::move(e));
  }
  return events;
}

BusConfig herald_config(const std::string& name) {
  BusConfig c = BusConfig::from_url(url());
  c.options["exchange"] = "herald.bench." + name;
  c.options["queue_prefix"] = "herald.bench.";
  c.options["queue_expires"] = "10m";
  c.options["dead_letter_expires"] = "10m";
  c.options["unroutable"] = "drop";  // as the baseline: no alternate exchange
  c.options["confirm_window"] = std::to_string(window);
  c.options["prefetch_multiplier"] = std::to_string(window);  // concurrency 1 → prefetch 256
  return c;
}

struct Rates {
  double publish = 0, consume = 0;
  PhaseCpu consume_phase;  // first delivery to last: CPU by thread, the machine's idle share
};

Rates run_raw(const std::vector<Envelope>& events) {
  RawRabbitConfig cfg;
  cfg.port = port();
  cfg.confirm_window = window;
  cfg.prefetch = window;
  std::vector<std::string> bodies, keys, ids;
  for (const auto& e : events) {
    bodies.push_back(encode(e));  // herald's bytes, encoded before the clock starts
    keys.push_back(e.type);
    ids.push_back(e.id);
  }
  raw_rabbitmq_prepare(cfg);
  Rates r;
  r.publish = raw_rabbitmq_publish(cfg, bodies, keys, ids).per_second();
  cfg.on_first_message = [&] { r.consume_phase.first(); };
  cfg.on_last_message = [&] { r.consume_phase.last(); };
  r.consume = raw_rabbitmq_consume(cfg, events.size()).per_second();
  return r;
}

Rates run_herald(std::vector<Envelope> events) {
  const std::size_t n = events.size();
  auto bus = make_bus(herald_config("t" + run_id()));
  // Declare the group's queue and binding, then leave: the events wait in it.
  { auto declare = bus->subscribe({.pattern = "order.*", .group = "throughput"}, [](const Envelope&) {}); }

  auto start = SteadyClock::now();
  bus->publish(std::move(events));
  double publish_seconds = seconds_since(start);

  std::atomic<std::size_t> handled{0};
  SteadyClock::time_point first{}, last{};
  std::mutex mutex;
  std::condition_variable done;
  Rates r;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "throughput"}, [&](const Envelope&) {
    std::size_t k = handled.fetch_add(1) + 1;
    if (k == 1) {
      r.consume_phase.first();
      first = SteadyClock::now();
    }
    if (k == n) {
      last = SteadyClock::now();
      r.consume_phase.last();
      std::lock_guard lock(mutex);
      done.notify_all();
    }
  });
  std::unique_lock lock(mutex);
  if (!done.wait_for(lock, std::chrono::seconds(300), [&] { return handled.load() >= n; }))
    throw std::runtime_error("herald: handled " + std::to_string(handled.load()) + " of " + std::to_string(n));
  r.publish = n / publish_seconds;
  r.consume = n / std::chrono::duration<double>(last - first).count();
  return r;
}

// Publish -> handler latency at 1k, 10k and 50k events/s, each beside raw
// rabbitmq-c publishing and consuming on the same schedule: what the
// broker and the machine take, which no client can go under.
void run_latency() {
  for (double rate : {1'000.0, 10'000.0, 50'000.0}) {
    RawRabbitConfig cfg;
    cfg.port = port();
    cfg.exchange = "herald.bench.raw.latency";
    cfg.queue = "herald.bench.raw.latency.q";
    cfg.prefetch = window;
    RawLatency measured = raw_rabbitmq_latency(cfg, rate, 3.0);
    const LatencyBaseline raw = latency_baseline("raw rabbitmq-c", measured.achieved, std::move(measured.samples_us));
    auto bus = make_bus(herald_config("l" + run_id()));
    RateLatency r = run_rate_latency(*bus, "latency", rate, 3.0);
    report_rate_latency("default", rate, r, rate == 1'000.0 ? 1'500 : 0, &raw);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50'000;
  const int rounds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  bench_name() = "rabbitmq";
  try {
    const std::vector<Envelope> events = make_events(n);
    std::size_t bytes = 0;
    for (const auto& e : events) bytes += encode(e).size();
    std::printf("rabbitmq transport vs raw rabbitmq-c, %zu persistent events of %zu bytes, confirm window %d, "
                "prefetch %d, 127.0.0.1:%d, median of %d rounds\n",
                n, bytes / std::max<std::size_t>(n, 1), window, window, port(), rounds);
    std::vector<double> hp, hc, rp, rc, pub_ratio, con_ratio;
    for (int r = 1; r <= rounds; ++r) {
      Rates raw, her;
      if (r % 2) {
        raw = run_raw(events);
        her = run_herald(events);
      } else {
        her = run_herald(events);
        raw = run_raw(events);
      }
      std::printf("  round %d: publish herald %8.0f/s raw %8.0f/s (%.2fx) | consume herald %8.0f/s raw %8.0f/s (%.2fx)\n",
                  r, her.publish, raw.publish, her.publish / raw.publish, her.consume, raw.consume,
                  her.consume / raw.consume);
      raw.consume_phase.print("raw", n);
      her.consume_phase.print("herald", n);
      hp.push_back(her.publish);
      hc.push_back(her.consume);
      rp.push_back(raw.publish);
      rc.push_back(raw.consume);
      pub_ratio.push_back(her.publish / raw.publish);
      con_ratio.push_back(her.consume / raw.consume);
    }
    print_ratio("publish with confirms, median round", median(hp), median(rp), 0.95, "raw rabbitmq-c");
    print_ratio("consume with acks, median round", median(hc), median(rc), 0.95, "raw rabbitmq-c");
    // The goal holds in every round: the worst round's ratio is the figure that must meet it.
    record_result("consume with acks, worst round's ratio", "ratio", *std::min_element(con_ratio.begin(), con_ratio.end()),
                  1.0, "raw rabbitmq-c", 0.95);
    std::printf("  median of the rounds' own ratios: publish %.2fx, consume %.2fx\n", median(pub_ratio), median(con_ratio));
    run_latency();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_rabbitmq: %s\n", e.what());
    return 1;
  }
  return 0;
}
