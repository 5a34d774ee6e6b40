#pragma once
// Tracing without a dependency: W3C trace context (traceparent/tracestate)
// and a small tracer interface that core calls once per publish and per
// handler run, with spans named and attributed per OpenTelemetry's messaging
// semantic conventions. No tracer is installed by default (nothing is
// recorded); herald's own OTLP/HTTP JSON exporter is installed when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (herald/otlp.hpp), or install any
// Tracer with set_tracer().
//
// The tracer is global, like OpenTelemetry's global TracerProvider: a
// decorating bus (OutboxBus, RoutedBus) and the transports behind it report
// to the same place without passing it along, and spans of nested calls for
// one event (a decorator over a transport) are emitted once.
//
// \code
//   // continue the trace of an incoming HTTP request while publishing
//   herald::trace::Scope scope(herald::trace::parse_traceparent(request.header("traceparent")));
//   bus.publish(herald::Envelope::make("order.created", order));  // a child of the request's span
// \endcode

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "herald/envelope.hpp"

namespace herald::trace {

/// A W3C trace context: which trace, which span in it, its flags and the
/// vendors' tracestate. All-zero ids mean "none" (valid() is false).
struct SpanContext {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t flags = 0x01;  // sampled
  std::string tracestate;

  bool valid() const noexcept;
  /// Lowercase hex, as in traceparent and OTLP JSON.
  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  bool operator==(const SpanContext&) const = default;
};

/// The context in `traceparent` (version 00 form), with `tracestate`;
/// an invalid (default) context for anything else, so a damaged header only
/// starts a new trace.
SpanContext parse_traceparent(std::string_view traceparent, std::string_view tracestate = {});
/// "00-<trace id>-<span id>-<flags>".
std::string format_traceparent(const SpanContext& context);

/// A new span of `parent`'s trace (same trace id, flags and tracestate, a new
/// span id); a new trace when `parent` is not valid.
SpanContext child_of(const SpanContext& parent);

/// The context a publish on this thread continues: the innermost Scope's,
/// else, inside a handler, the handled event's (its process span's when a
/// tracer records); invalid when there is none. Then publish starts a new
/// trace when a tracer is installed, and adds no traceparent when none is
/// (as OpenTelemetry's API does without an SDK: no trace nobody records).
SpanContext current();

/// Makes `context` current on this thread for the life of the scope (nests).
/// An invalid context hides the outer one: what is published inside starts
/// a new trace.
class Scope {
 public:
  explicit Scope(SpanContext context) noexcept;
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const SpanContext* previous_;
  SpanContext context_;
};

/// OTLP's span kinds (the numbers are the protocol's).
enum class SpanKind : std::uint8_t { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };

/// A span attribute's value (OTLP: string, int, double, bool).
using Value = std::variant<std::string, std::int64_t, double, bool>;
struct Attribute {
  std::string key;
  Value value;
  bool operator==(const Attribute&) const = default;
};

/// How a span ended (OTLP status codes: unset 0, ok 1, error 2).
struct Status {
  enum class Code : std::uint8_t { unset = 0, ok = 1, error = 2 };
  Code code = Code::unset;
  std::string message;
};

/// What core knows when a span starts. Core makes the ids (so the context
/// travels the same with or without a tracer); a tracer records them.
struct SpanStart {
  std::string name;
  SpanKind kind = SpanKind::internal;
  SpanContext context;  ///< this span's
  SpanContext parent;   ///< invalid: a root span
  std::vector<Attribute> attributes;
  std::vector<SpanContext> links;
  Timestamp start;
};

/// A span being recorded. end() is called exactly once, on the thread that
/// started it; it must not throw.
class Span {
 public:
  virtual ~Span();
  virtual void set_attribute(Attribute attribute) = 0;
  virtual void end(Status status) noexcept = 0;
};

/// Records spans. start_span is called on publisher and handler threads:
/// it must be quick and must not block (queue the span, export elsewhere);
/// an exception from it is swallowed and the span is not recorded.
class Tracer {
 public:
  virtual ~Tracer();
  /// Whether a span started now would be kept. Core asks before it builds
  /// one, so a tracer that sheds load (a full export queue) costs almost
  /// nothing per span; the trace context travels all the same.
  virtual bool recording() const noexcept { return true; }
  /// May return nullptr: the span is not recorded.
  virtual std::unique_ptr<Span> start_span(SpanStart start) = 0;
};

/// Installs `tracer` for every bus in the process (nullptr: none, nothing is
/// recorded). Spans already started end on the tracer that started them.
/// Replaces the one OTEL_EXPORTER_OTLP_ENDPOINT installed.
void set_tracer(std::shared_ptr<Tracer> tracer);
/// The installed tracer, or nullptr. The first call (and every bus's
/// construction) installs the OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT
/// is set and set_tracer() was not called before.
std::shared_ptr<Tracer> tracer();

/// Messaging attribute names (OpenTelemetry semantic conventions).
namespace attr {
inline constexpr const char* system = "messaging.system";
inline constexpr const char* destination = "messaging.destination.name";
inline constexpr const char* partition = "messaging.destination.partition.id";
inline constexpr const char* operation_type = "messaging.operation.type";
inline constexpr const char* operation_name = "messaging.operation.name";
inline constexpr const char* message_id = "messaging.message.id";
inline constexpr const char* group = "messaging.consumer.group.name";
inline constexpr const char* kafka_key = "messaging.kafka.message.key";
inline constexpr const char* kafka_offset = "messaging.kafka.offset";
inline constexpr const char* rabbitmq_routing_key = "messaging.rabbitmq.destination.routing_key";
inline constexpr const char* error_type = "error.type";
}  // namespace attr

}  // namespace herald::trace
