#pragma once
// Context propagation: events published while a handler runs carry the
// handled event's correlation and causation ids.

#include "herald/envelope.hpp"

namespace herald {

/// The event whose handler runs on this thread, or nullptr.
const Envelope* current_event() noexcept;

/// Sets the current event for the life of the scope (nests).
class EventScope {
 public:
  explicit EventScope(const Envelope& event) noexcept;
  ~EventScope();
  EventScope(const EventScope&) = delete;
  EventScope& operator=(const EventScope&) = delete;

 private:
  const Envelope* previous_;
};

/// Fills correlationid (the current event's, or its id) and causationid
/// (the current event's id) where `event` has none. No-op outside a handler.
void apply_context(Envelope& event) noexcept;

}  // namespace herald
