#pragma once
// Private to herald::core: the tracer the environment asks for.

#include <memory>

#include "herald/tracing.hpp"

namespace herald::trace::detail {

/// Replaces this thread's innermost Scope (nullptr: none), returning the
/// one it replaced: a handler's EventScope hides the publisher's context.
const SpanContext* swap_scope(const SpanContext* context) noexcept;
/// Whether a tracer is installed (one relaxed load: the hot paths' test).
bool tracing_enabled() noexcept;
/// Whether this thread has a trace context to continue (a Scope, or a
/// handled event with a traceparent).
bool has_context() noexcept;
/// Whether publish gives an event without a traceparent one: when there is
/// a context to continue, or a tracer records (then a new trace starts).
/// Without either, nothing is added: like OpenTelemetry's API without an
/// SDK, no trace is started that nobody records.
bool stamps_trace() noexcept;
/// Installs tracer_from_environment() once, unless set_tracer() came first.
void install_tracer_from_environment();
/// The OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT (or
/// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and OTEL_TRACES_EXPORTER is
/// not "none"; else nullptr.
std::shared_ptr<Tracer> tracer_from_environment();

}  // namespace herald::trace::detail
