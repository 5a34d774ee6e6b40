#pragma once
// Private to herald::core: the messaging spans core emits once per publish
// (send, PRODUCER) and per handler run (process, CONSUMER; then settle),
// named and attributed per OpenTelemetry's messaging semantic conventions.
// A decorating bus and the transport behind it see the same event on the
// same thread; only the outermost publish and the innermost handler run
// (the one the transport called, which knows the delivery) emit.

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "herald/envelope.hpp"
#include "herald/ext/transport.hpp"
#include "herald/tracing.hpp"

namespace herald::ext {

struct SettleTrace {
  std::shared_ptr<trace::Tracer> tracer;
  trace::SpanContext process;  // the settle span's parent
  std::string name;
  std::vector<trace::Attribute> attributes;
};

}  // namespace herald::ext

namespace herald::detail {

/// The send spans of one publish call. Costs one load when no tracer is
/// installed.
class PublishSpans {
 public:
  PublishSpans() noexcept;
  ~PublishSpans();
  PublishSpans(const PublishSpans&) = delete;
  PublishSpans& operator=(const PublishSpans&) = delete;

  bool active() const noexcept { return tracer_ != nullptr; }
  /// Starts the span of `event`, now stamped; `fresh`: stamping gave it its
  /// traceparent (the span is the event's creation context), else it came
  /// with one (a relayed row, a replay) and the span is its child.
  void start(const Envelope& event, bool fresh, std::string_view system);
  /// Ends every span: ok, or with the exception being handled.
  void end(std::exception_ptr error) noexcept;

 private:
  std::shared_ptr<trace::Tracer> tracer_;
  trace::SpanContext parent_;  // the caller's context
  std::vector<std::unique_ptr<trace::Span>> spans_;
  bool outermost_ = false;
};

/// The process span of one handler run, current while it lives (a publish
/// inside the handler continues its trace).
class ProcessSpan {
 public:
  ProcessSpan(const Envelope& event, const std::string& group, const std::string& system);
  ~ProcessSpan();
  ProcessSpan(const ProcessSpan&) = delete;
  ProcessSpan& operator=(const ProcessSpan&) = delete;

  /// Ends the span with the run's outcome, and for a successful run (the
  /// verdict is ack whatever the transport) emits the settle span; a failed
  /// run's settle span comes from decide(), which alone knows the verdict.
  void end(Attempt& outcome) noexcept;

 private:
  std::shared_ptr<trace::Tracer> tracer_;
  std::unique_ptr<trace::Span> span_;
  std::unique_ptr<trace::Scope> scope_;
  std::shared_ptr<ext::SettleTrace> settle_;
  trace::SpanContext context_;  // the span's, current in the handler
  const std::string* previous_id_ = nullptr;
  const trace::SpanContext* previous_context_ = nullptr;
  int previous_depth_ = 0;
  bool active_ = false;
};

/// "error.type" for a failed run or publish: the herald error code, else
/// "_OTHER" (semantic conventions' fallback).
std::string error_type(std::exception_ptr error) noexcept;

/// The settle span for `verdict_name` (ack, retry, dead_letter) under the
/// run's process span. Never throws.
void emit_settle(const ext::SettleTrace& t, std::string_view verdict_name, const std::string& error) noexcept;

}  // namespace herald::detail
