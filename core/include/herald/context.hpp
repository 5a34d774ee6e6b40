#pragma once
// Context propagation: events published while a handler runs carry the
// handled event's correlation and causation ids.

#include <string>
#include <string_view>

#include "herald/envelope.hpp"

namespace herald {

namespace trace {
struct SpanContext;
}

/// The event whose handler runs on this thread, or nullptr.
const Envelope* current_event() noexcept;

/// The group of the subscription whose handler runs on this thread, or "".
/// Handler wrappers read it so the group is named once, at subscribe.
std::string_view current_group() noexcept;

/// `group` when given, else current_group(); throws ConfigError naming
/// `who` when neither is there (a wrapper called outside a subscription).
std::string group_or_current(const std::string& group, const char* who);

/// Sets the current event (and its subscription's group) for the life of
/// the scope (nests). Its trace context (traceparent) becomes the current
/// one (herald/tracing.hpp), hiding an outer trace::Scope.
class EventScope {
 public:
  explicit EventScope(const Envelope& event, const std::string* group = nullptr) noexcept;
  ~EventScope();
  EventScope(const EventScope&) = delete;
  EventScope& operator=(const EventScope&) = delete;

 private:
  const Envelope* previous_;
  const std::string* previous_group_;
  const trace::SpanContext* previous_trace_;
};

/// Clears the current event (the group stays) for the life of the scope
/// (nests): an event published inside goes out as given, without the
/// handled event's context (trace context included). For a handler that forwards the event it
/// handles (Bridge), which is not an event that handler caused.
class DetachedScope {
 public:
  DetachedScope() noexcept;
  ~DetachedScope();
  DetachedScope(const DetachedScope&) = delete;
  DetachedScope& operator=(const DetachedScope&) = delete;

 private:
  const Envelope* previous_;
  const trace::SpanContext* previous_trace_;
};

/// Fills correlationid (the current event's, or its id) and causationid
/// (the current event's id) where `event` has none (no-op outside a
/// handler), and traceparent/tracestate where it has no traceparent: a new
/// span of the current trace context (trace::current()), or of a new trace
/// when a tracer records (with neither, none: herald/tracing.hpp).
void apply_context(Envelope& event) noexcept;

}  // namespace herald
