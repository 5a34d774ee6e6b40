#pragma once
// In-process counters and latency histograms per event type and group.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace herald {

/// Handler latency histogram; bucket upper bounds in microseconds.
struct LatencyHistogram {
  static constexpr std::array<std::uint64_t, 12> bounds_us{
      10, 50, 100, 500, 1'000, 5'000, 10'000, 50'000, 100'000, 500'000, 1'000'000, 5'000'000};
  std::array<std::uint64_t, bounds_us.size() + 1> buckets{};  // last: +Inf
  std::uint64_t count = 0;
  double sum_seconds = 0;
};

/// A latency histogram bumped from any thread (atomics, no lock). Its count
/// is the sum of its buckets, read, not kept: a third atomic add per
/// observation (two histograms per inline publish) bought nothing, and a
/// count kept apart could be read out of step with the +Inf bucket it must
/// equal.
class AtomicHistogram {
 public:
  void observe(std::chrono::nanoseconds latency);
  LatencyHistogram read() const;

 private:
  std::array<std::atomic<std::uint64_t>, LatencyHistogram::bounds_us.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Dead letters are counted per reason (the index of ext/delivery.hpp's
/// DeadLetterReason); a count bumped on `dead_lettered` alone shows as
/// reason "unknown".
inline constexpr std::size_t dead_letter_reason_slots = 8;

/// Counters of one (type, group) pair. Fields are atomics: cheap to bump
/// from any thread.
struct ConsumerCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed_attempts{0};
  std::atomic<std::uint64_t> retried{0};
  std::atomic<std::uint64_t> dead_lettered{0};
  /// By reason; their sum is at most `dead_lettered`.
  std::array<std::atomic<std::uint64_t>, dead_letter_reason_slots> dead_by_reason{};
  void observe_latency(std::chrono::nanoseconds latency) { latency_.observe(latency); }
  LatencyHistogram latency() const { return latency_.read(); }
  /// Counts one dead letter with its reason (DeadLetterReason as a number).
  void count_dead_letter(std::size_t reason) noexcept {
    dead_lettered.fetch_add(1, std::memory_order_relaxed);
    if (reason < dead_by_reason.size()) dead_by_reason[reason].fetch_add(1, std::memory_order_relaxed);
  }

 private:
  AtomicHistogram latency_;
};

/// Counter values at one moment.
struct MetricsSnapshot {
  struct Consumer {
    std::uint64_t delivered = 0, failed_attempts = 0, retried = 0, dead_lettered = 0;
    std::array<std::uint64_t, dead_letter_reason_slots> dead_by_reason{};
    LatencyHistogram latency;
  };
  std::map<std::string, std::uint64_t> published;                        // by type
  std::map<std::string, LatencyHistogram> publish_latency;              // by type, publishes timed
  std::map<std::pair<std::string, std::string>, Consumer> consumed;      // by (type, group)
  std::uint64_t total_published() const;
  Consumer total(const std::string& group = {}) const;                   // summed over types
  /// Adds the retries and dead letters `inner` counted (and none of its
  /// other counts): what Metrics::include_verdicts_of does at each snapshot.
  void add_verdicts_of(const MetricsSnapshot& inner);
  /// Prometheus text of these counts (Metrics::prometheus).
  std::string prometheus(const std::string& transport = {}) const;
};

/// Thread-safe registry of counters. Every bus has one (shared when the
/// configuration passes one in).
class Metrics {
 public:
  Metrics();
  ~Metrics();
  void published(const std::string& type, std::uint64_t n = 1);
  /// Counts one publish of `type` that took `took` until the transport
  /// accepted it (herald_publish_duration_seconds).
  void published(const std::string& type, std::chrono::nanoseconds took);
  /// Stable for the life of the Metrics object.
  ConsumerCounters& consumer(const std::string& type, const std::string& group);
  /// Snapshots include the retries and dead letters `inner` counted
  /// (and none of its other counts). For a bus in front of other buses
  /// (RoutedBus): it counts publishes and handler runs itself, while the
  /// transports behind it count the retries and dead letters they carry out.
  void include_verdicts_of(std::shared_ptr<const Metrics> inner);
  MetricsSnapshot snapshot() const;
  /// Prometheus text exposition format (version 0.0.4): the herald_*
  /// families of docs/observability.md, with HELP and TYPE lines. `transport`
  /// (the bus's features().name) is added as a label to every series when
  /// given. Labels never hold an event id.
  std::string prometheus(const std::string& transport = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
