#include "herald/ext/delivery.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "message_spans.hpp"
#include "herald/log.hpp"

namespace herald {

namespace {

constexpr std::array<std::string_view, 7> reason_names = {"max_attempts",  "decode_error",  "non_retriable",
                                                          "closed",        "no_subscriber", "forward_error",
                                                          "schema_error"};

// The names herald's Kafka transport used before the vocabulary was one.
namespace legacy {
constexpr std::string_view attempts = "x-herald-retry-attempts";
constexpr std::string_view first_failure = "x-herald-retry-first-failure";
constexpr std::string_view last_error = "x-herald-retry-last-error";
constexpr std::string_view not_before = "x-herald-retry-not-before";
constexpr std::string_view origin_topic = "x-herald-retry-origin-topic";
constexpr std::string_view origin_partition = "x-herald-retry-origin-partition";
constexpr std::string_view origin_offset = "x-herald-retry-origin-offset";
}  // namespace legacy

std::optional<std::string> either(const DeliveryState::Get& get, std::string_view name, std::string_view old) {
  if (auto v = get(name)) return v;
  return get(old);
}

// A damaged number reads as `fallback`: bookkeeping must never stop an event.
long long number_or(const std::optional<std::string>& text, long long fallback, long long min, long long max) {
  if (!text || text->empty()) return fallback;
  long long v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size()) return fallback;
  return v < min ? min : v > max ? max : v;
}

Timestamp time_or_zero(const std::optional<std::string>& text) {
  if (!text || text->empty()) return Timestamp{};
  try {
    return parse_time(*text);
  } catch (const std::exception&) {
    return Timestamp{};  // a damaged time only loses the first-failure stamp
  }
}

// The cut keeps whole UTF-8 sequences, so the header stays valid text.
std::string cut_utf8(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

constexpr long long max_count = 1'000'000;

// One line per handler failure: this one when it will be retried, the
// dead-letter line when not (it carries the last error).
void log_retry(const Attempt& outcome, const DeliveryState& state, std::chrono::milliseconds delay) noexcept {
  if (!log_enabled(LogLevel::warn)) return;
  try {
    LogEvent about = outcome.failed_event ? *outcome.failed_event : LogEvent{};
    about.attempt = state.attempts;
    log(LogLevel::warn, "herald.delivery",
        "handler failed, retry in " + std::to_string(delay.count()) + " ms: " + state.last_error, &about);
  } catch (...) {
  }
}

void log_dead_letter(const DeadLetter& d) noexcept {
  if (!log_enabled(LogLevel::error)) return;
  try {
    LogEvent about = LogEvent::of(d.event, d.group, d.attempts);
    log(LogLevel::error, "herald.delivery",
        "dead-lettered (" + d.reason + ")" + (d.last_error.empty() ? "" : ": " + d.last_error), &about);
  } catch (...) {
  }
}

}  // namespace

std::string_view wire_name(DeadLetterReason reason) noexcept {
  auto i = static_cast<std::size_t>(reason);
  return i < reason_names.size() ? reason_names[i] : std::string_view("unknown");
}

std::optional<DeadLetterReason> dead_letter_reason_from(std::string_view name) noexcept {
  for (std::size_t i = 0; i < reason_names.size(); ++i)
    if (reason_names[i] == name) return static_cast<DeadLetterReason>(i);
  return std::nullopt;
}

void DeliveryState::write_headers(const Put& put) const {
  if (attempts > 0) put(delivery_header::attempts, std::to_string(attempts));
  if (redeliveries > 0) put(delivery_header::redeliveries, std::to_string(redeliveries));
  if (first_failure.time_since_epoch().count() != 0) put(delivery_header::first_failure, format_time(first_failure));
  if (!last_error.empty()) put(delivery_header::last_error, cut_utf8(last_error, max_error_bytes));
  if (not_before_ms > 0) put(delivery_header::not_before, std::to_string(not_before_ms));
  if (!origin_topic.empty()) {
    put(delivery_header::origin_topic, origin_topic);
    put(delivery_header::origin_partition, std::to_string(origin_partition));
    put(delivery_header::origin_offset, std::to_string(origin_offset));
  }
}

DeliveryState DeliveryState::read_headers(const Get& get) {
  DeliveryState s;
  s.attempts = static_cast<int>(number_or(either(get, delivery_header::attempts, legacy::attempts), 0, 0, max_count));
  s.redeliveries = static_cast<int>(number_or(get(delivery_header::redeliveries), 0, 0, max_count));
  s.first_failure = time_or_zero(either(get, delivery_header::first_failure, legacy::first_failure));
  if (auto e = either(get, delivery_header::last_error, legacy::last_error)) s.last_error = std::move(*e);
  s.not_before_ms = number_or(either(get, delivery_header::not_before, legacy::not_before), 0, 0, INT64_MAX);
  if (auto t = either(get, delivery_header::origin_topic, legacy::origin_topic)) {
    s.origin_topic = std::move(*t);
    s.origin_partition = static_cast<int>(
        number_or(either(get, delivery_header::origin_partition, legacy::origin_partition), -1, -1, INT32_MAX));
    s.origin_offset = number_or(either(get, delivery_header::origin_offset, legacy::origin_offset), -1, -1, INT64_MAX);
  }
  return s;
}

bool DeliveryState::is_bookkeeping(std::string_view name) noexcept {
  // The partition key shares the prefix but belongs to the event.
  return name.starts_with(delivery_header::prefix) && name != "x-herald-partitionkey";
}

bool exhausted(const RetryPolicy& policy, const DeliveryState& state) noexcept {
  return static_cast<long long>(state.attempts) + state.redeliveries >= policy.max_attempts;
}

Verdict decide(const RetryPolicy& policy, DeliveryState& state, const Attempt& outcome, ConsumerCounters& counters,
               bool closing) {
  if (outcome.ok) return Verdict::ack();
  // The handler never saw it: like an undecodable event, no attempt is counted.
  if (outcome.schema_error) return refuse(DeadLetterReason::schema_error, state, counters, outcome.error);
  ++state.attempts;
  if (state.first_failure.time_since_epoch().count() == 0) state.first_failure = now_micros();
  state.last_error = outcome.error;
  Verdict v;
  if (!outcome.retriable)
    v = Verdict::dead(DeadLetterReason::non_retriable);
  else if (exhausted(policy, state))
    v = Verdict::dead(DeadLetterReason::max_attempts);
  else if (closing)
    v = Verdict::dead(DeadLetterReason::closed);
  else
    // The handler's own "not before" (Retry-After) wins over a shorter
    // backoff, within the policy's ceiling.
    v = Verdict::retry(std::max(policy.delay_after(state.attempts), std::min(outcome.not_before, policy.max_delay)));
  if (v.kind == Verdict::Kind::retry) {
    counters.retried.fetch_add(1, std::memory_order_relaxed);
    log_retry(outcome, state, v.delay);
  } else {
    counters.count_dead_letter(static_cast<std::size_t>(v.reason));  // dead_letter_for() logs it
  }
  if (outcome.trace) detail::emit_settle(*outcome.trace, v.kind == Verdict::Kind::retry ? "retry" : "dead_letter", state.last_error);
  return v;
}

Verdict refuse(DeadLetterReason reason, DeliveryState& state, ConsumerCounters& counters, std::string why) {
  if (!why.empty()) state.last_error = std::move(why);
  counters.count_dead_letter(static_cast<std::size_t>(reason));
  return Verdict::dead(reason);
}

DeadLetter dead_letter_for(const Envelope& event, const std::string& group, const DeliveryState& state,
                           DeadLetterReason reason) {
  DeadLetter d;
  d.event = event;
  d.group = group;
  d.reason = std::string(wire_name(reason));
  d.attempts = state.attempts;
  d.last_failure = now_micros();
  d.first_failure = state.first_failure.time_since_epoch().count() != 0 ? state.first_failure : d.last_failure;
  d.last_error = state.last_error;
  d.routing_key = event.type;
  log_dead_letter(d);
  if (!state.origin_topic.empty()) {
    d.topic = state.origin_topic;
    d.partition = state.origin_partition;
    d.offset = state.origin_offset;
  }
  return d;
}

}  // namespace herald
