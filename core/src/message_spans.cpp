#include "message_spans.hpp"

#include "herald/errors.hpp"
#include "otlp_env.hpp"

namespace herald::detail {

namespace {

// Publishes under way on this thread: a decorator's publish calls the
// transport's on the same thread, and only the outermost emits.
thread_local int publish_depth = 0;
// The event whose process span is open on this thread: a decorator's
// invoker runs inside the transport's for the same event, and only the
// transport's (which knows the delivery) emits.
thread_local const std::string* processing_id = nullptr;
// And its context: the decorator's EventScope hides it, and the decorator's
// invoker makes it current again for the user's handler.
thread_local const trace::SpanContext* processing_context = nullptr;

std::string destination_of(const Envelope& event, const ext::DeliveryInfo* info) {
  if (info && !info->destination.empty()) return std::string(info->destination);
  return event.type;
}

// The attributes send and process share; `system` is the transport's name.
std::vector<trace::Attribute> common_attributes(const Envelope& event, std::string_view system,
                                                const std::string& destination, const char* operation) {
  std::vector<trace::Attribute> a;
  a.reserve(10);
  a.push_back({trace::attr::system, std::string(system)});
  a.push_back({trace::attr::destination, destination});
  a.push_back({trace::attr::operation_type, std::string(operation)});
  a.push_back({trace::attr::operation_name, std::string(operation)});
  a.push_back({trace::attr::message_id, event.id});
  return a;
}

}  // namespace

std::string error_type(std::exception_ptr error) noexcept {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const Error& e) {
    return to_string(e.code());
  } catch (...) {
  }
  return "_OTHER";
}

PublishSpans::PublishSpans() noexcept {
  if (!trace::detail::tracing_enabled() || publish_depth > 0) {
    ++publish_depth;
    return;
  }
  ++publish_depth;
  outermost_ = true;
  try {
    tracer_ = trace::tracer();
    if (tracer_ && !tracer_->recording()) tracer_ = nullptr;
    if (tracer_) parent_ = trace::current();
  } catch (...) {
    tracer_ = nullptr;  // no span rather than no publish
  }
}

PublishSpans::~PublishSpans() {
  --publish_depth;
  end(nullptr);
}

void PublishSpans::start(const Envelope& event, bool fresh, std::string_view system) {
  if (!tracer_) return;
  try {
    trace::SpanContext own = trace::parse_traceparent(event.traceparent, event.tracestate);
    trace::SpanStart s;
    if (fresh && own.valid()) {
      s.context = own;
      s.parent = parent_;
    } else {
      s.context = trace::child_of(own.valid() ? own : parent_);
      s.parent = own.valid() ? own : parent_;
    }
    s.name = "send " + event.type;
    s.kind = trace::SpanKind::producer;
    s.attributes = common_attributes(event, system, event.type, "send");
    if (system == "kafka" && !event.partitionkey.empty())
      s.attributes.push_back({trace::attr::kafka_key, event.partitionkey});
    if (system == "rabbitmq") s.attributes.push_back({trace::attr::rabbitmq_routing_key, event.type});
    s.start = now_micros();
    if (auto span = tracer_->start_span(std::move(s))) spans_.push_back(std::move(span));
  } catch (...) {
    // The tracer's trouble is not the publisher's.
  }
}

void PublishSpans::end(std::exception_ptr error) noexcept {
  if (spans_.empty()) return;
  trace::Status status;
  std::string type;
  if (error) {
    status.code = trace::Status::Code::error;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      try {
        status.message = e.what();
      } catch (...) {
      }
    } catch (...) {
    }
    type = error_type(error);
  }
  for (auto& span : spans_) {
    try {
      if (error) span->set_attribute({trace::attr::error_type, type});
    } catch (...) {
    }
    span->end(status);
  }
  spans_.clear();
}

ProcessSpan::ProcessSpan(const Envelope& event, const std::string& group, const std::string& system) {
  if (!trace::detail::tracing_enabled()) return;
  if (processing_id && *processing_id == event.id) {
    try {
      if (processing_context) scope_ = std::make_unique<trace::Scope>(*processing_context);
    } catch (...) {
      // Out of memory: the handler continues the event's context instead.
    }
    return;
  }
  try {
    tracer_ = trace::tracer();
    if (!tracer_ || !tracer_->recording()) return;
    const ext::DeliveryInfo* info = ext::DeliveryScope::current();
    const trace::SpanContext created = trace::parse_traceparent(event.traceparent, event.tracestate);
    trace::SpanStart s;
    s.context = trace::child_of(created);
    s.parent = created;
    if (created.valid()) s.links.push_back(created);
    const std::string destination = destination_of(event, info);
    s.name = "process " + destination;
    s.kind = trace::SpanKind::consumer;
    s.attributes = common_attributes(event, system, destination, "process");
    s.attributes.push_back({trace::attr::group, group});
    if (info) {
      if (info->partition >= 0) s.attributes.push_back({trace::attr::partition, std::to_string(info->partition)});
      if (!info->kafka_key.empty()) s.attributes.push_back({trace::attr::kafka_key, std::string(info->kafka_key)});
      if (info->kafka_offset >= 0) s.attributes.push_back({trace::attr::kafka_offset, info->kafka_offset});
      if (!info->routing_key.empty())
        s.attributes.push_back({trace::attr::rabbitmq_routing_key, std::string(info->routing_key)});
    }
    s.start = now_micros();
    auto settle = std::make_shared<ext::SettleTrace>();
    settle->tracer = tracer_;
    settle->process = s.context;
    settle->name = "settle " + destination;
    settle->attributes = common_attributes(event, system, destination, "settle");
    settle->attributes.push_back({trace::attr::group, group});
    context_ = s.context;
    span_ = tracer_->start_span(std::move(s));
    scope_ = std::make_unique<trace::Scope>(context_);
    settle_ = std::move(settle);
  } catch (...) {
    span_.reset();
    settle_.reset();
    scope_.reset();
    return;
  }
  previous_id_ = std::exchange(processing_id, &event.id);
  previous_context_ = std::exchange(processing_context, &context_);
  previous_depth_ = std::exchange(publish_depth, 0);  // a publish in the handler is a send of its own
  active_ = true;
}

ProcessSpan::~ProcessSpan() {
  if (!active_) return;
  processing_id = previous_id_;
  processing_context = previous_context_;
  publish_depth = previous_depth_;
}

void ProcessSpan::end(Attempt& outcome) noexcept {
  scope_.reset();
  if (!active_) return;
  if (span_) {
    trace::Status status;
    if (!outcome.ok) {
      status.code = trace::Status::Code::error;
      try {
        status.message = outcome.error;
        span_->set_attribute({trace::attr::error_type, error_type(outcome.exception)});
      } catch (...) {
      }
    }
    span_->end(status);
    span_.reset();
  }
  if (!settle_) return;
  if (outcome.ok)
    emit_settle(*settle_, "ack", {});
  else
    outcome.trace = std::move(settle_);
}

void emit_settle(const ext::SettleTrace& t, std::string_view verdict, const std::string& error) noexcept {
  try {
    if (!t.tracer->recording()) return;
    trace::SpanStart s;
    s.name = t.name;
    s.kind = trace::SpanKind::client;
    s.context = trace::child_of(t.process);
    s.parent = t.process;
    s.attributes = t.attributes;
    for (auto& a : s.attributes)
      if (a.key == trace::attr::operation_name) a.value = std::string(verdict);
    s.start = now_micros();
    auto span = t.tracer->start_span(std::move(s));
    if (!span) return;
    trace::Status status;
    if (verdict == "dead_letter") {
      status.code = trace::Status::Code::error;
      status.message = error;
    }
    span->end(status);
  } catch (...) {
  }
}

}  // namespace herald::detail

namespace herald::ext {

namespace {
thread_local const DeliveryInfo* current_delivery = nullptr;
}

DeliveryScope::DeliveryScope(const DeliveryInfo& info) noexcept : previous_(current_delivery) {
  current_delivery = &info;
}
DeliveryScope::~DeliveryScope() { current_delivery = previous_; }
const DeliveryInfo* DeliveryScope::current() noexcept { return current_delivery; }

}  // namespace herald::ext
