#pragma once
// Result of a raw-client baseline run, shared by every raw baseline
// (raw_kafka.hpp, raw_rabbitmq.hpp). Define it here only, once.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

namespace herald::bench {

struct RawRate { std::size_t messages = 0; double seconds = 0; double per_second() const { return seconds > 0 ? messages / seconds : 0; } };

// Publish -> delivery latency of a raw client at a steady rate: one sample
// per message after a warm-up, in microseconds, and the rate achieved.
struct RawLatency {
  std::vector<double> samples_us;
  double achieved = 0;  // messages/s published
};

// The schedule of the raw latency baselines, as bench/support/rate_latency.hpp
// runs herald's: a warm-up, then ticks of 1 ms each publishing rate/1000.
struct LatencySchedule {
  static constexpr std::size_t warm_up = 20;
  std::size_t per_tick, ticks;

  LatencySchedule(double rate, double seconds)
      : per_tick(static_cast<std::size_t>(std::max(1.0, rate / 1000))), ticks(static_cast<std::size_t>(seconds * 1000)) {}
  std::size_t total() const { return warm_up + per_tick * ticks; }

  // Calls publish(per_tick) on every tick; returns the rate achieved.
  template <class Publish>
  double run(Publish&& publish) const {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now() + std::chrono::milliseconds(50);
    for (std::size_t tick = 0; tick < ticks; ++tick) {
      std::this_thread::sleep_until(start + std::chrono::milliseconds(tick));  // the schedule, not synchronisation
      publish(per_tick);
    }
    return static_cast<double>(per_tick * ticks) / std::chrono::duration<double>(Clock::now() - start).count();
  }

  // The samples without the warm-up's (the first to arrive).
  RawLatency result(std::vector<double> samples, double achieved) const {
    samples.erase(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(std::min(warm_up, samples.size())));
    return {std::move(samples), achieved};
  }
};

}  // namespace herald::bench
