#include "herald/metrics.hpp"

#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>

namespace herald {

void ConsumerCounters::observe_latency(std::chrono::nanoseconds latency) {
  auto us = static_cast<std::uint64_t>(latency.count() / 1000);
  std::size_t i = 0;
  while (i < LatencyHistogram::bounds_us.size() && us > LatencyHistogram::bounds_us[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

LatencyHistogram ConsumerCounters::latency() const {
  LatencyHistogram h;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) h.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  h.count = count_.load(std::memory_order_relaxed);
  h.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return h;
}

std::uint64_t MetricsSnapshot::total_published() const {
  std::uint64_t n = 0;
  for (const auto& [_, v] : published) n += v;
  return n;
}

MetricsSnapshot::Consumer MetricsSnapshot::total(const std::string& group) const {
  Consumer t;
  for (const auto& [key, c] : consumed) {
    if (!group.empty() && key.second != group) continue;
    t.delivered += c.delivered;
    t.failed_attempts += c.failed_attempts;
    t.retried += c.retried;
    t.dead_lettered += c.dead_lettered;
    t.latency.count += c.latency.count;
    t.latency.sum_seconds += c.latency.sum_seconds;
    for (std::size_t i = 0; i < t.latency.buckets.size(); ++i) t.latency.buckets[i] += c.latency.buckets[i];
  }
  return t;
}

// Counters are created once and then only bumped, so lookups take a shared
// lock and the hot path never serialises publishers.
struct Metrics::Impl {
  static inline std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t id = next_id.fetch_add(1);
  mutable std::shared_mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<std::atomic<std::uint64_t>>> published;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ConsumerCounters>> consumers;
  std::vector<std::shared_ptr<const Metrics>> verdict_sources;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::published(const std::string& type, std::uint64_t n) {
  // Counters are never removed, so a per-thread pointer to the last one used
  // stays valid for the life of this Metrics (told apart by a unique id).
  struct Cached {
    std::uint64_t owner = 0;
    std::string type;
    std::atomic<std::uint64_t>* counter = nullptr;
  };
  thread_local Cached cached;
  if (cached.owner == impl_->id && cached.type == type) {
    cached.counter->fetch_add(n, std::memory_order_relaxed);
    return;
  }
  std::atomic<std::uint64_t>* counter = nullptr;
  {
    std::shared_lock lock(impl_->mutex);
    auto it = impl_->published.find(type);
    if (it != impl_->published.end()) counter = it->second.get();
  }
  if (!counter) {
    std::unique_lock lock(impl_->mutex);
    auto& slot = impl_->published[type];
    if (!slot) slot = std::make_unique<std::atomic<std::uint64_t>>(0);
    counter = slot.get();
  }
  counter->fetch_add(n, std::memory_order_relaxed);
  cached.owner = impl_->id;
  cached.type = type;
  cached.counter = counter;
}

ConsumerCounters& Metrics::consumer(const std::string& type, const std::string& group) {
  {
    std::shared_lock lock(impl_->mutex);
    auto it = impl_->consumers.find({type, group});
    if (it != impl_->consumers.end()) return *it->second;
  }
  std::unique_lock lock(impl_->mutex);
  auto& slot = impl_->consumers[{type, group}];
  if (!slot) slot = std::make_unique<ConsumerCounters>();
  return *slot;
}

void Metrics::include_verdicts_of(std::shared_ptr<const Metrics> inner) {
  if (!inner || inner.get() == this) return;
  std::unique_lock lock(impl_->mutex);
  impl_->verdict_sources.push_back(std::move(inner));
}

MetricsSnapshot Metrics::snapshot() const {
  MetricsSnapshot s;
  std::vector<std::shared_ptr<const Metrics>> sources;
  {
    std::shared_lock lock(impl_->mutex);
    sources = impl_->verdict_sources;
  }
  // Outside the lock: a source never waits on this one.
  for (const auto& source : sources) {
    for (const auto& [k, c] : source->snapshot().consumed) {
      if (c.retried == 0 && c.dead_lettered == 0) continue;
      auto& out = s.consumed[k];
      out.retried += c.retried;
      out.dead_lettered += c.dead_lettered;
    }
  }
  std::shared_lock lock(impl_->mutex);
  for (const auto& [k, v] : impl_->published) s.published[k] = v->load();
  for (const auto& [k, c] : impl_->consumers) {
    auto& out = s.consumed[k];
    out.delivered = c->delivered.load();
    out.failed_attempts = c->failed_attempts.load();
    out.retried += c->retried.load();
    out.dead_lettered += c->dead_lettered.load();
    out.latency = c->latency();
  }
  return s;
}

namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string Metrics::prometheus() const {
  MetricsSnapshot s = snapshot();
  std::ostringstream o;
  o << "# HELP event_published_total Events accepted by the transport.\n# TYPE event_published_total counter\n";
  for (const auto& [type, n] : s.published) o << "event_published_total{type=\"" << label_value(type) << "\"} " << n << '\n';
  auto counter = [&](const char* name, const char* help, auto field) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [key, c] : s.consumed)
      o << name << "{type=\"" << label_value(key.first) << "\",group=\"" << label_value(key.second) << "\"} "
        << field(c) << '\n';
  };
  counter("event_delivered_total", "Handler runs that succeeded.", [](const auto& c) { return c.delivered; });
  counter("event_dispatch_failures_total", "Handler runs that threw.", [](const auto& c) { return c.failed_attempts; });
  counter("event_retried_total", "Retries scheduled.", [](const auto& c) { return c.retried; });
  counter("event_dead_letter_total", "Events dead-lettered.", [](const auto& c) { return c.dead_lettered; });
  o << "# HELP event_dispatch_latency Handler latency in seconds.\n# TYPE event_dispatch_latency histogram\n";
  for (const auto& [key, c] : s.consumed) {
    std::string labels = "type=\"" + label_value(key.first) + "\",group=\"" + label_value(key.second) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < c.latency.buckets.size(); ++i) {
      cumulative += c.latency.buckets[i];
      o << "event_dispatch_latency_bucket{" << labels << ",le=\"";
      if (i < LatencyHistogram::bounds_us.size()) o << static_cast<double>(LatencyHistogram::bounds_us[i]) / 1e6;
      else o << "+Inf";
      o << "\"} " << cumulative << '\n';
    }
    o << "event_dispatch_latency_sum{" << labels << "} " << c.latency.sum_seconds << '\n';
    o << "event_dispatch_latency_count{" << labels << "} " << c.latency.count << '\n';
  }
  return o.str();
}

}  // namespace herald
