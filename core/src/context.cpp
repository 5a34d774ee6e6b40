#include "herald/context.hpp"

namespace herald {

namespace {
thread_local const Envelope* current = nullptr;
}

const Envelope* current_event() noexcept { return current; }

EventScope::EventScope(const Envelope& event) noexcept : previous_(current) { current = &event; }
EventScope::~EventScope() { current = previous_; }

void apply_context(Envelope& event) noexcept {
  const Envelope* parent = current;
  if (!parent) return;
  try {
    if (event.correlationid.empty())
      event.correlationid = parent->correlationid.empty() ? parent->id : parent->correlationid;
    if (event.causationid.empty()) event.causationid = parent->id;
    if (event.traceparent.empty()) event.traceparent = parent->traceparent;
  } catch (...) {
    // Only allocation can fail here; the event goes out without context.
  }
}

}  // namespace herald
