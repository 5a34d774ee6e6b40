#include "herald/ext/stamp.hpp"

#include "herald/context.hpp"
#include "herald/pattern.hpp"
#include "otlp_env.hpp"

namespace herald::ext {

void stamp(Envelope& event, std::string_view source) {
  if (event.id.empty()) event.id = uuid_v7();
  if (event.source.empty()) event.source = std::string(source);
  if (event.time.time_since_epoch().count() == 0) event.time = now_micros();
  apply_context(event);
}

bool needs_stamp(const Envelope& e) noexcept {
  if (e.id.empty() || e.source.empty() || e.time.time_since_epoch().count() == 0) return true;
  if (e.traceparent.empty() && trace::detail::stamps_trace()) return true;
  return current_event() && (e.correlationid.empty() || e.causationid.empty());
}

void prepare_event(Envelope& event, std::string_view source, const DecodeOptions& limits) {
  validate_event_type(event.type);
  stamp(event, source);
  validate(event, limits);
}

}  // namespace herald::ext
