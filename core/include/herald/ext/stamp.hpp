#pragma once
// For transport and store authors: what publish and append do to every
// event before it leaves the process or enters a store, in one place.

#include <string_view>

#include "herald/codec.hpp"
#include "herald/envelope.hpp"

namespace herald::ext {

/// Fills what an event built in code may leave empty: a UUIDv7 id, the
/// current time, `source`, and inside a handler the context of the event
/// being handled (correlationid, causationid; apply_context), and a
/// traceparent: a new span of the current trace context, or a new trace
/// when a tracer records (herald/tracing.hpp).
/// What is set already is kept.
void stamp(Envelope& event, std::string_view source);

/// Whether stamp() would change `event` (on this thread, now).
bool needs_stamp(const Envelope& event) noexcept;

/// Checks the type (validate_event_type), stamps the event and validates it
/// against `limits` (validate: attributes, max_data_bytes): what
/// EventBus::publish and EventStore::append run on every event. Throws
/// ConfigError for a bad type, DecodeError naming the field (oversize data:
/// "data").
void prepare_event(Envelope& event, std::string_view source, const DecodeOptions& limits);

}  // namespace herald::ext
