#include "herald/context.hpp"

#include "herald/errors.hpp"

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
    : previous_(current), previous_group_(current_group_name) {
  current = &event;
  if (group) current_group_name = group;
}
EventScope::~EventScope() {
  current = previous_;
  current_group_name = previous_group_;
}

DetachedScope::DetachedScope() noexcept : previous_(current) { current = nullptr; }
DetachedScope::~DetachedScope() { current = previous_; }

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
