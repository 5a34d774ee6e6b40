#include "herald/bus.hpp"

#include <atomic>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "herald/catalog.hpp"
#include "herald/context.hpp"
#include "herald/errors.hpp"
#include "herald/ext/stamp.hpp"
#include "herald/ext/transport.hpp"
#include "herald/pattern.hpp"
#include "counter_cache.hpp"
#include "message_spans.hpp"
#include "otlp_env.hpp"

namespace herald {

EventBus::EventBus(std::shared_ptr<Metrics> metrics, DecodeOptions decode, std::string default_source)
    : metrics_(metrics ? std::move(metrics) : std::make_shared<Metrics>()),
      decode_(decode),
      default_source_(std::move(default_source)) {
  trace::detail::install_tracer_from_environment();
}

EventBus::~EventBus() = default;

void EventBus::prepare(Envelope& event) const { ext::prepare_event(event, default_source_, decode_); }

namespace {

// Sound because only ext::Transport can construct an EventBus.
ext::Transport& hooks(EventBus& bus) noexcept { return static_cast<ext::Transport&>(bus); }

// Before the transport sees it, so a refused event is nowhere (no store row, no broker message).
void check_schema(const DecodeOptions& decode, const Envelope& event) {
  if (decode.catalog && decode.catalog->options().at_publish) decode.catalog->check(event);
}

// Runs the transport's publish, then ends the send spans with its outcome.
template <class Publish>
void publish_within(detail::PublishSpans& spans, const Publish& publish) {
  try {
    publish();
  } catch (...) {
    spans.end(std::current_exception());
    throw;
  }
  spans.end(nullptr);
}

// The handler clock below, for herald_publish_duration_seconds.
std::uint64_t latency_ticks() noexcept;
std::chrono::nanoseconds latency_since(std::uint64_t start) noexcept;

}  // namespace

void EventBus::publish(const Envelope& event) {
  if (ext::needs_stamp(event)) {
    Envelope copy = event;
    publish(std::move(copy));
    return;
  }
  validate_event_type(event.type);
  validate(event, decode_);
  check_schema(decode_, event);
  detail::PublishSpans spans;
  if (spans.active()) spans.start(event, false, system_name());
  const std::uint64_t start = latency_ticks();
  publish_within(spans, [&] { hooks(*this).do_publish(ext::Outgoing::borrowed(event)); });
  metrics_->published(event.type, latency_since(start));
}

void EventBus::publish(Envelope&& event) {
  detail::PublishSpans spans;
  const bool fresh = event.traceparent.empty();
  prepare(event);
  check_schema(decode_, event);
  if (spans.active()) spans.start(event, fresh, system_name());
  std::string type = event.type;
  const std::uint64_t start = latency_ticks();
  publish_within(spans, [&] { hooks(*this).do_publish(ext::Outgoing::owned(event)); });
  metrics_->published(type, latency_since(start));
}

void EventBus::publish(std::vector<Envelope> events) {
  if (events.empty()) return;
  detail::PublishSpans spans;
  std::vector<bool> fresh;
  if (spans.active())
    for (const auto& e : events) fresh.push_back(e.traceparent.empty());
  for (auto& e : events) prepare(e);
  for (const auto& e : events) check_schema(decode_, e);
  if (spans.active())
    for (std::size_t i = 0; i < events.size(); ++i) spans.start(events[i], fresh[i], system_name());
  std::vector<std::string> types;
  types.reserve(events.size());
  for (const auto& e : events) types.push_back(e.type);
  const std::uint64_t start = latency_ticks();
  publish_within(spans, [&] { hooks(*this).do_publish(ext::Outgoing::owned(events)); });
  // Each event of the batch waited for the whole batch to be accepted.
  const auto took = latency_since(start);
  for (const auto& t : types) metrics_->published(t, took);
}

const std::string& EventBus::system_name() const {
  std::call_once(system_once_, [this] { system_ = features().name; });
  return system_;
}

namespace {

// Handler latency is timed on every run. clock_gettime costs more than the
// whole in-process dispatch on some virtual machines, so on x86-64 the time
// stamp counter is read instead, scaled by a rate measured once.
class LatencyClock {
 public:
  static std::uint64_t ticks() noexcept {
#if defined(__x86_64__)
    if (instance().ns_per_tick_ > 0) return __rdtsc();
#endif
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  static std::chrono::nanoseconds since(std::uint64_t start) noexcept {
    std::uint64_t now = ticks();
    double ns = static_cast<double>(now - start) * (instance().ns_per_tick_ > 0 ? instance().ns_per_tick_ : 1.0);
    return std::chrono::nanoseconds(static_cast<long long>(ns));
  }

 private:
  LatencyClock() {
#if defined(__x86_64__)
    auto t0 = std::chrono::steady_clock::now();
    std::uint64_t c0 = __rdtsc();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2)) {
    }
    std::uint64_t c1 = __rdtsc();
    double ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
    if (c1 > c0) ns_per_tick_ = ns / static_cast<double>(c1 - c0);
    if (!(ns_per_tick_ > 0.01 && ns_per_tick_ < 100)) ns_per_tick_ = 0;  // no usable counter
#endif
  }
  static const LatencyClock& instance() noexcept {
    static const LatencyClock clock;
    return clock;
  }
  double ns_per_tick_ = 0;
};

std::uint64_t latency_ticks() noexcept { return LatencyClock::ticks(); }
std::chrono::nanoseconds latency_since(std::uint64_t start) noexcept { return LatencyClock::since(start); }

// One per subscription: remembers the counters of each type it has seen so
// the hot path does not look them up again.
class CountingInvoker {
 public:
  CountingInvoker(Handler handler, std::string group, std::shared_ptr<Metrics> metrics,
                  std::shared_ptr<const Catalog> catalog, std::string system)
      : handler_(std::move(handler)),
        group_(std::move(group)),
        metrics_(std::move(metrics)),
        catalog_(std::move(catalog)),
        system_(std::move(system)) {}

  Attempt operator()(const Envelope& event) {
    // An event moved here for one group (herald dlq move) is not the others'
    // to handle again: acknowledged without running their handler.
    if (!event.extensions.empty()) [[unlikely]] {
      auto to = event.extensions.find(group_extension);
      if (to != event.extensions.end() && !(to->second.is_string() && to->second.get_ref<const std::string&>() == group_))
        return Attempt{};
    }
    if (catalog_) {
      // Outside the handler's try: only the catalog's verdict is a schema_error.
      if (auto bad = catalog_->violation(event)) {
        std::string why = bad->what();
        return {false, std::move(why), false, std::make_exception_ptr(std::move(*bad)), true};
      }
    }
    ConsumerCounters& counters = counters_for(event.type);
    std::uint64_t start = LatencyClock::ticks();
    Attempt result;
    {
      EventScope scope(event, &group_);
      detail::ProcessSpan span(event, group_, system_);  // current inside the handler
      try {
        handler_(event);
      } catch (const RetryLaterError& ex) {
        result = {false, ex.what(), true, std::current_exception()};
        result.not_before = ex.after();
      } catch (const Error& ex) {
        result = {false, ex.what(), ex.retriable(), std::current_exception()};
      } catch (const std::exception& ex) {
        result = {false, ex.what(), true, std::current_exception()};
      } catch (...) {
        result = {false, "unknown exception (not derived from std::exception)", true, std::current_exception()};
      }
      span.end(result);
    }
    auto elapsed = LatencyClock::since(start);
    if (result.ok) {
      counters.delivered.fetch_add(1, std::memory_order_relaxed);
      counters.observe_latency(elapsed);
    } else {
      counters.failed_attempts.fetch_add(1, std::memory_order_relaxed);
      if (log_enabled(LogLevel::warn)) result.failed_event = std::make_shared<const LogEvent>(LogEvent::of(event, group_));
    }
    return result;
  }

 private:
  ConsumerCounters& counters_for(const std::string& type) {
    return detail::cached_counter<ConsumerCounters, CountingInvoker>(
        id_, type, [&]() -> ConsumerCounters& { return metrics_->consumer(type, group_); });
  }

  static inline std::atomic<std::uint64_t> next_id_{1};
  const std::uint64_t id_ = next_id_.fetch_add(1);
  Handler handler_;
  std::string group_;
  std::shared_ptr<Metrics> metrics_;
  std::shared_ptr<const Catalog> catalog_;  // null: nothing checked on receipt
  std::string system_;                       // messaging.system of the spans
};

}  // namespace

Subscription EventBus::subscribe(SubscribeSpec spec, Handler handler) {
  validate_pattern(spec.pattern);
  // Unique per subscription, so every instance (and every ephemeral
  // subscription in one process) is a group of its own.
  if (spec.ephemeral) spec.group = (spec.group.empty() ? "ephemeral" : spec.group) + "-" + uuid_v7().substr(24);
  if (spec.group.empty()) throw ConfigError("subscribe: group must not be empty (name it after the consuming service)");
  if (spec.group.find_first_of(" \t\r\n/") != std::string::npos)
    throw ConfigError("subscribe: group '" + spec.group + "' must not contain spaces or '/'");
  if (spec.concurrency < 1) throw ConfigError("subscribe: concurrency must be at least 1");
  spec.retry.validate();
  if (!handler) throw ConfigError("subscribe: handler is empty");
  std::shared_ptr<const Catalog> catalog = decode_.catalog && decode_.catalog->options().on_receipt ? decode_.catalog : nullptr;
  auto invoker = std::make_shared<CountingInvoker>(std::move(handler), spec.group, metrics_, std::move(catalog),
                                                    system_name());
  return hooks(*this).do_subscribe(spec, [invoker](const Envelope& e) { return (*invoker)(e); });
}

GroupBacklog EventBus::backlog(const std::string& group, const std::string& pattern) {
  validate_pattern(pattern);
  return hooks(*this).do_backlog(group, pattern);
}

std::size_t EventBus::hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                             const std::function<void(const DeadLetter&)>& hand) {
  return hooks(*this).do_hand_over_dead_letters(group, id, hand);
}

}  // namespace herald
