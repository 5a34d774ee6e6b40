#pragma once
// Publish -> handler latency at a steady rate, shared by the broker
// benchmarks. The schedule is ticks of 1 ms, each publishing rate/1000
// events in one publish call (so 50,000 events/s is 50 events a tick, not
// 50,000 blocking calls); publishing blocks for the broker's acknowledgement,
// so `publishers` threads take the ticks in turn. Each event carries the
// steady-clock time it was made; the handler records now - then.

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/bus.hpp"
#include "stats.hpp"

namespace herald::bench {

struct RateLatency {
  double achieved = 0;  // events/s actually published
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
  std::size_t events = 0;
};

inline RateLatency run_rate_latency(EventBus& bus, const std::string& group, double rate, double seconds,
                                    int publishers = 8) {
  const int per_tick = std::max(1, static_cast<int>(rate / 1000));
  const int ticks = static_cast<int>(seconds * 1000);
  std::mutex mutex;
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(per_tick) * static_cast<std::size_t>(ticks));
  auto sub = bus.subscribe({.pattern = "order.*", .group = group}, [&](const Envelope& e) {
    auto sent = SteadyClock::time_point(SteadyClock::duration(e.payload()["sent"].get<std::int64_t>()));
    double us = std::chrono::duration<double, std::micro>(SteadyClock::now() - sent).count();
    std::lock_guard lock(mutex);
    samples.push_back(us);
  });
  auto make = [](int i) {
    Envelope e = Envelope::make("order.created", {{"sent", SteadyClock::now().time_since_epoch().count()},
                                                  {"note", std::string(200, 'x')}});
    e.partitionkey = "order-" + std::to_string(i % 100);
    return e;
  };
  // Warm-up: until events flow (a new consumer's first fetches), then measure.
  for (int i = 0; i < 20; ++i) bus.publish(make(i));
  if (!bus.flush(std::chrono::seconds(60))) throw std::runtime_error("latency: warm-up not handled");
  {
    std::lock_guard lock(mutex);
    samples.clear();
  }
  const auto start = SteadyClock::now() + std::chrono::milliseconds(50);
  std::vector<std::thread> threads;
  for (int t = 0; t < publishers; ++t)
    threads.emplace_back([&, t] {
      for (int tick = t; tick < ticks; tick += publishers) {
        std::this_thread::sleep_until(start + std::chrono::milliseconds(tick));  // the schedule, not synchronisation
        std::vector<Envelope> batch;
        for (int i = 0; i < per_tick; ++i) batch.push_back(make(tick * per_tick + i));
        bus.publish(std::move(batch));
      }
    });
  for (auto& th : threads) th.join();
  const double elapsed = seconds_since(start);
  if (!bus.flush(std::chrono::seconds(60))) throw std::runtime_error("latency: not drained");
  std::lock_guard lock(mutex);
  RateLatency r;
  r.events = samples.size();
  r.achieved = static_cast<double>(per_tick) * ticks / elapsed;
  r.p50 = percentile_us(samples, 50);
  r.p99 = percentile_us(samples, 99);
  r.p999 = percentile_us(samples, 99.9);
  r.max = percentile_us(samples, 100);
  return r;
}

/// A raw client's latency at the same rate, beside herald's in the records.
struct LatencyBaseline {
  std::string name;  // "raw rabbitmq-c"
  double achieved = 0;  // events/s
  double p50 = 0, p99 = 0, p999 = 0;
};

inline LatencyBaseline latency_baseline(std::string name, double achieved, std::vector<double> samples) {
  LatencyBaseline b{std::move(name), achieved};
  b.p50 = percentile_us(samples, 50);
  b.p99 = percentile_us(samples, 99);
  b.p999 = percentile_us(samples, 99.9);
  return b;
}

/// Prints one line (two with a baseline) and records p50/p99/p999;
/// `p99_goal_us` 0: no goal.
inline void report_rate_latency(const std::string& setting, double rate, const RateLatency& r, double p99_goal_us,
                                const LatencyBaseline* base = nullptr) {
  std::printf("  latency %-9s at %6.0f events/s (achieved %6.0f/s, %zu events): p50 %7.0f us  p99 %7.0f us  p99.9 %7.0f us  max %7.0f us\n",
              setting.c_str(), rate, r.achieved, r.events, r.p50, r.p99, r.p999, r.max);
  if (base)
    std::printf("  %-17s at %6.0f events/s (achieved %6.0f/s): p50 %7.0f us  p99 %7.0f us  p99.9 %7.0f us; herald's p99 %.2fx\n",
                base->name.c_str(), rate, base->achieved, base->p50, base->p99, base->p999,
                base->p99 > 0 ? r.p99 / base->p99 : 0.0);
  const std::string at = " (" + setting + ") at " + std::to_string(static_cast<long>(rate)) + " events/s";
  const std::string name = base ? base->name : "";
  record_result("publish->handler p50" + at, "us", r.p50, base ? base->p50 : 0, name, 0, true);
  record_result("publish->handler p99" + at, "us", r.p99, base ? base->p99 : 0, name, p99_goal_us, true, true);
  record_result("publish->handler p99.9" + at, "us", r.p999, base ? base->p999 : 0, name, 0, true);
}

}  // namespace herald::bench
