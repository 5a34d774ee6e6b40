#include "herald/metrics.hpp"

#include "herald/ext/delivery.hpp"
#include "counter_cache.hpp"

#include <map>
#include <mutex>
#include <shared_mutex>
#include <locale>
#include <sstream>
#include <string_view>

namespace herald {

void AtomicHistogram::observe(std::chrono::nanoseconds latency) {
  auto us = static_cast<std::uint64_t>(latency.count() / 1000);
  std::size_t i = 0;
  while (i < LatencyHistogram::bounds_us.size() && us > LatencyHistogram::bounds_us[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

LatencyHistogram AtomicHistogram::read() const {
  LatencyHistogram h;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    h.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    h.count += h.buckets[i];
  }
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
    for (std::size_t i = 0; i < t.dead_by_reason.size(); ++i) t.dead_by_reason[i] += c.dead_by_reason[i];
    t.latency.count += c.latency.count;
    t.latency.sum_seconds += c.latency.sum_seconds;
    for (std::size_t i = 0; i < t.latency.buckets.size(); ++i) t.latency.buckets[i] += c.latency.buckets[i];
  }
  return t;
}

void MetricsSnapshot::add_verdicts_of(const MetricsSnapshot& inner) {
  for (const auto& [k, c] : inner.consumed) {
    if (c.retried == 0 && c.dead_lettered == 0) continue;
    auto& out = consumed[k];
    out.retried += c.retried;
    out.dead_lettered += c.dead_lettered;
    for (std::size_t i = 0; i < out.dead_by_reason.size(); ++i) out.dead_by_reason[i] += c.dead_by_reason[i];
  }
}

// Counters are created once and then only bumped, so lookups take a shared
// lock and the hot path never serialises publishers.
struct Metrics::Impl {
  static inline std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t id = next_id.fetch_add(1);
  mutable std::shared_mutex mutex;
  // A publish is counted once: in `latency` when timed (its buckets sum
  // to the count), else in `untimed`. Counting it in both was a third
  // atomic add on every publish.
  struct Published {
    std::atomic<std::uint64_t> untimed{0};
    std::atomic<bool> timed{false};
    AtomicHistogram latency;
  };
  std::unordered_map<std::string, std::unique_ptr<Published>> published;
  Published& published_slot(const std::string& type);
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ConsumerCounters>> consumers;
  std::vector<std::shared_ptr<const Metrics>> verdict_sources;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

Metrics::Impl::Published& Metrics::Impl::published_slot(const std::string& type) {
  return detail::cached_counter<Published, Metrics>(id, type, [&]() -> Published& {
    {
      std::shared_lock lock(mutex);
      auto it = published.find(type);
      if (it != published.end()) return *it->second;
    }
    std::unique_lock lock(mutex);
    auto& slot = published[type];
    if (!slot) slot = std::make_unique<Published>();
    return *slot;
  });
}

void Metrics::published(const std::string& type, std::uint64_t n) {
  impl_->published_slot(type).untimed.fetch_add(n, std::memory_order_relaxed);
}

void Metrics::published(const std::string& type, std::chrono::nanoseconds took) {
  auto& p = impl_->published_slot(type);
  if (!p.timed.load(std::memory_order_relaxed)) p.timed.store(true, std::memory_order_relaxed);
  p.latency.observe(took);  // counts the publish too
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
  for (const auto& source : sources) s.add_verdicts_of(source->snapshot());
  std::shared_lock lock(impl_->mutex);
  for (const auto& [k, v] : impl_->published) {
    LatencyHistogram latency = v->latency.read();
    s.published[k] = v->untimed.load() + latency.count;
    if (v->timed.load()) s.publish_latency[k] = latency;
  }
  for (const auto& [k, c] : impl_->consumers) {
    auto& out = s.consumed[k];
    out.delivered = c->delivered.load();
    out.failed_attempts = c->failed_attempts.load();
    out.retried += c->retried.load();
    out.dead_lettered += c->dead_lettered.load();
    for (std::size_t i = 0; i < out.dead_by_reason.size(); ++i) out.dead_by_reason[i] += c->dead_by_reason[i].load();
    out.latency = c->latency();
  }
  return s;
}

namespace {

// Label values are quoted: backslash, quote and newline escaped; invalid
// UTF-8 replaced, since the exposition format is UTF-8 text.
std::string label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size();) {
    auto c = static_cast<unsigned char>(v[i]);
    std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = n > 0 && i + n <= v.size() && !(n == 2 && c < 0xC2);
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(v[i + k]) & 0xC0) == 0x80;
    if (!ok) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
    } else {
      out.append(v.substr(i, n));
    }
    i += n;
  }
  return out;
}

// One family: HELP and TYPE once, then its series.
void family(std::ostream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void histogram(std::ostream& o, const std::string& name, const std::string& labels, const LatencyHistogram& h) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    o << name << "_bucket{" << labels << (labels.empty() ? "" : ",") << "le=\"";
    if (i < LatencyHistogram::bounds_us.size())
      o << static_cast<double>(LatencyHistogram::bounds_us[i]) / 1e6;
    else
      o << "+Inf";
    o << "\"} " << cumulative << '\n';
  }
  o << name << "_sum{" << labels << "} " << h.sum_seconds << '\n';
  o << name << "_count{" << labels << "} " << h.count << '\n';
}

}  // namespace

std::string Metrics::prometheus(const std::string& transport) const { return snapshot().prometheus(transport); }

std::string MetricsSnapshot::prometheus(const std::string& transport) const {
  const MetricsSnapshot& s = *this;
  std::ostringstream o;
  o.imbue(std::locale::classic());
  o.precision(9);
  const std::string base = transport.empty() ? std::string() : "transport=\"" + label_value(transport) + "\",";
  auto of_type = [&](const std::string& type) { return base + "type=\"" + label_value(type) + "\""; };
  auto of_consumer = [&](const std::pair<std::string, std::string>& key) {
    return of_type(key.first) + ",group=\"" + label_value(key.second) + "\"";
  };

  family(o, "herald_messages_published_total", "counter", "Events the transport accepted, by event type.");
  for (const auto& [type, n] : s.published) o << "herald_messages_published_total{" << of_type(type) << "} " << n << '\n';
  family(o, "herald_publish_duration_seconds", "histogram",
         "Time from publish until the transport accepted the event (broker confirm, delivery report, enqueue).");
  for (const auto& [type, h] : s.publish_latency) histogram(o, "herald_publish_duration_seconds", of_type(type), h);

  family(o, "herald_messages_consumed_total", "counter",
         "Handler runs by outcome: success (returned) or failure (threw).");
  for (const auto& [key, c] : s.consumed) {
    if (c.delivered == 0 && c.failed_attempts == 0) continue;  // only verdicts were counted here
    o << "herald_messages_consumed_total{" << of_consumer(key) << ",outcome=\"success\"} " << c.delivered << '\n';
    o << "herald_messages_consumed_total{" << of_consumer(key) << ",outcome=\"failure\"} " << c.failed_attempts << '\n';
  }
  family(o, "herald_process_duration_seconds", "histogram", "Run time of handler runs that succeeded.");
  for (const auto& [key, c] : s.consumed)
    if (c.latency.count > 0) histogram(o, "herald_process_duration_seconds", of_consumer(key), c.latency);

  family(o, "herald_retries_total", "counter", "Retries scheduled after a failed handler run.");
  for (const auto& [key, c] : s.consumed)
    if (c.retried > 0) o << "herald_retries_total{" << of_consumer(key) << "} " << c.retried << '\n';
  family(o, "herald_dead_letters_total", "counter", "Events dead-lettered, by reason.");
  for (const auto& [key, c] : s.consumed) {
    std::uint64_t by_reason = 0;
    for (std::size_t i = 0; i < c.dead_by_reason.size(); ++i) {
      if (c.dead_by_reason[i] == 0) continue;
      by_reason += c.dead_by_reason[i];
      o << "herald_dead_letters_total{" << of_consumer(key) << ",reason=\""
        << label_value(wire_name(static_cast<DeadLetterReason>(i))) << "\"} " << c.dead_by_reason[i] << '\n';
    }
    if (c.dead_lettered > by_reason)
      o << "herald_dead_letters_total{" << of_consumer(key) << ",reason=\"unknown\"} " << c.dead_lettered - by_reason
        << '\n';
  }
  return o.str();
}

}  // namespace herald
