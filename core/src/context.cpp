#include "herald/context.hpp"

#include "herald/errors.hpp"
#include "herald/tracing.hpp"
#include "otlp_env.hpp"

namespace herald {

namespace {
thread_local const Envelope* current = nullptr;
thread_local const std::string* current_group_name = nullptr;
}  // namespace

const Envelope* current_event() noexcept { return current; }

std::string_view current_group() noexcept { return current_group_name ? *current_group_name : std::string_view(); }

std::string group_or_current(const std::string& group, const char* who) {
  if (!group.empty()) return group;
  if (current_group_name && !current_group_name->empty()) return *current_group_name;
  throw ConfigError(std::string(who) + ": no group: the handler runs outside a subscription and was given none");
}

EventScope::EventScope(const Envelope& event, const std::string* group) noexcept
    : previous_(current), previous_group_(current_group_name), previous_trace_(trace::detail::swap_scope(nullptr)) {
  current = &event;
  if (group) current_group_name = group;
}
EventScope::~EventScope() {
  current = previous_;
  current_group_name = previous_group_;
  trace::detail::swap_scope(previous_trace_);
}

DetachedScope::DetachedScope() noexcept : previous_(current), previous_trace_(trace::detail::swap_scope(nullptr)) {
  current = nullptr;
}
DetachedScope::~DetachedScope() {
  current = previous_;
  trace::detail::swap_scope(previous_trace_);
}

void apply_context(Envelope& event) noexcept {
  try {
    if (event.traceparent.empty() && trace::detail::stamps_trace()) {
      trace::SpanContext span = trace::child_of(trace::current());
      event.traceparent = trace::format_traceparent(span);
      event.tracestate = std::move(span.tracestate);
    }
    const Envelope* parent = current;
    if (!parent) return;
    if (event.correlationid.empty())
      event.correlationid = parent->correlationid.empty() ? parent->id : parent->correlationid;
    if (event.causationid.empty()) event.causationid = parent->id;
  } catch (...) {
    // Only allocation can fail here; the event goes out without context.
  }
}

}  // namespace herald
