#include "herald/ext/stamp.hpp"

#include "herald/context.hpp"
#include "herald/pattern.hpp"

namespace herald::ext {

void stamp(Envelope& event, std::string_view source) {
  if (event.id.empty()) event.id = uuid_v7();
  if (event.source.empty()) event.source = std::string(source);
  if (event.time.time_since_epoch().count() == 0) event.time = now_micros();
  apply_context(event);
}

bool needs_stamp(const Envelope& e) noexcept {
  if (e.id.empty() || e.source.empty() || e.time.time_since_epoch().count() == 0) return true;
  const Envelope* parent = current_event();
  return parent && (e.correlationid.empty() || e.causationid.empty() ||
                    (e.traceparent.empty() && !parent->traceparent.empty()));
}

void prepare_event(Envelope& event, std::string_view source, const DecodeOptions& limits) {
  validate_event_type(event.type);
  stamp(event, source);
  validate(event, limits);
}

}  // namespace herald::ext
