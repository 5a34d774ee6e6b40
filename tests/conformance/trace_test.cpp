#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>

#include "fixture.hpp"
#include "herald/tracing.hpp"
#include "recording_tracer.hpp"

using namespace herald;
using namespace herald::test;

namespace {

using trace::SpanKind;

trace::SpanContext context_of(const Envelope& e) { return trace::parse_traceparent(e.traceparent, e.tracestate); }

// A chain of two services: the warehouse handles shipment.requested and
// publishes shipment.packed; the courier fails once on it, then handles it.
struct Chain {
  explicit Chain(BusFixture& f) : f_(f) {
    warehouse = f.bus->subscribe({.pattern = "shipment.requested", .group = f.group("warehouse")}, [this](const Envelope& e) {
      requested.add(e);
      f_.bus->publish(Envelope::make("shipment.packed", {{"box", 1}}));
    });
    courier = f.bus->subscribe({.pattern = "shipment.packed", .group = f.group("courier"), .retry = quick_retry(3)},
                               [this](const Envelope& e) {
                                 packed_runs.add(e);
                                 if (packed_runs.size() == 1) throw std::runtime_error("courier busy");
                               });
  }
  // Publishes the first event as the caller's span `caller` (an HTTP request's).
  void start(const trace::SpanContext& caller) {
    trace::Scope scope(caller);
    f_.bus->publish(Envelope::make("shipment.requested", {{"order", 7}}));
  }
  bool finished() { return packed_runs.wait_for(2, deadline) && f_.bus->flush(deadline); }

  BusFixture& f_;
  Recorder<Envelope> requested, packed_runs;
  Subscription warehouse, courier;
};

std::vector<RecordedSpan> of_kind(const std::vector<RecordedSpan>& spans, SpanKind kind, const std::string& prefix) {
  std::vector<RecordedSpan> out;
  for (const auto& s : spans)
    if (s.start.kind == kind && s.start.name.rfind(prefix, 0) == 0) out.push_back(s);
  return out;
}

bool parent_is(const RecordedSpan& s, const trace::SpanContext& parent) {
  return s.start.parent.span_id == parent.span_id && s.start.parent.trace_id == parent.trace_id;
}

}  // namespace

TEST_CASE("the trace context goes from publish to handler to publish to handler, one trace, a new span per hop",
          "[conformance][trace]") {
  BusFixture f;
  Chain chain(f);
  const trace::SpanContext caller = trace::child_of({});
  chain.start(caller);
  REQUIRE(chain.finished());

  const Envelope a = chain.requested.items().at(0);
  const auto runs = chain.packed_runs.items();
  const trace::SpanContext ca = context_of(a), cb = context_of(runs.at(0));
  REQUIRE(ca.valid());
  REQUIRE(cb.valid());
  CHECK(ca.trace_id == caller.trace_id);
  CHECK(cb.trace_id == caller.trace_id);
  CHECK(ca.span_id != caller.span_id);
  CHECK(cb.span_id != ca.span_id);
  // The retry delivers the event as it was published: its context is not stamped again.
  CHECK(context_of(runs.at(1)) == cb);
  // Context ids still come from the handled event.
  CHECK(runs.at(0).causationid == a.id);
}

TEST_CASE("with a tracer, a new trace starts where the caller has none", "[conformance][trace]") {
  BusFixture f;
  auto tracer = std::make_shared<RecordingTracer>();
  TracerInstalled installed(tracer);
  Chain chain(f);
  chain.start(trace::SpanContext{});
  REQUIRE(chain.finished());
  const trace::SpanContext ca = context_of(chain.requested.items().at(0));
  const trace::SpanContext cb = context_of(chain.packed_runs.items().at(0));
  REQUIRE(ca.valid());
  CHECK(cb.trace_id == ca.trace_id);
  CHECK(cb.span_id != ca.span_id);
}

TEST_CASE("without a tracer and outside any trace, publish adds no trace context", "[conformance][trace]") {
  BusFixture f;
  Chain chain(f);
  chain.start(trace::SpanContext{});
  REQUIRE(chain.finished());
  CHECK(chain.requested.items().at(0).traceparent.empty());
  CHECK(chain.packed_runs.items().at(0).traceparent.empty());
}

TEST_CASE("spans follow the messaging conventions: send, process, settle, each the child of the hop before it",
          "[conformance][trace]") {
  BusFixture f;
  auto tracer = std::make_shared<RecordingTracer>();
  TracerInstalled installed(tracer);
  Chain chain(f);
  const trace::SpanContext caller = trace::child_of({});
  chain.start(caller);
  REQUIRE(chain.finished());

  const Envelope a = chain.requested.items().at(0);
  const Envelope b = chain.packed_runs.items().at(0);
  const trace::SpanContext ca = context_of(a), cb = context_of(b);
  const std::string trace_id = caller.trace_id_hex();

  // Spans end as handlers return and verdicts are carried out: wait for the last.
  std::vector<RecordedSpan> spans;
  auto settles_of_b = [&] {
    std::vector<RecordedSpan> out;
    for (const auto& s : of_kind(spans, SpanKind::client, "settle"))
      if (s.attribute(trace::attr::message_id) == b.id) out.push_back(s);
    return out;
  };
  REQUIRE(wait_until(
      [&] {
        spans = tracer->ended(trace_id);
        return settles_of_b().size() >= 2;
      },
      deadline));

  // send A: the creation context the event carries, a child of the caller's span.
  const auto sends = of_kind(spans, SpanKind::producer, "send ");
  const RecordedSpan* send_a = nullptr;
  const RecordedSpan* send_b = nullptr;
  for (const auto& s : sends) {
    if (s.start.context.span_id == ca.span_id) send_a = &s;
    if (s.start.context.span_id == cb.span_id) send_b = &s;
  }
  REQUIRE(send_a);
  CHECK(send_a->start.name == "send shipment.requested");
  CHECK(parent_is(*send_a, caller));
  CHECK(send_a->attribute(trace::attr::operation_type) == "send");
  CHECK(send_a->attribute(trace::attr::message_id) == a.id);
  CHECK(send_a->attribute(trace::attr::destination) == "shipment.requested");
  CHECK_FALSE(send_a->attribute(trace::attr::system).empty());

  // process A: a child of the creation context, linked to it.
  std::vector<RecordedSpan> process_a, process_b;
  for (const auto& s : of_kind(spans, SpanKind::consumer, "process ")) {
    if (s.attribute(trace::attr::message_id) == a.id) process_a.push_back(s);
    if (s.attribute(trace::attr::message_id) == b.id) process_b.push_back(s);
  }
  REQUIRE_FALSE(process_a.empty());
  for (const auto& p : process_a) {
    CHECK(parent_is(p, ca));
    REQUIRE(p.start.links.size() == 1);
    CHECK(p.start.links[0].span_id == ca.span_id);
    CHECK(p.attribute(trace::attr::operation_type) == "process");
    CHECK(p.attribute(trace::attr::group) == f.group("warehouse"));
    CHECK_FALSE(p.attribute(trace::attr::system).empty());
    CHECK(p.start.name.rfind("process ", 0) == 0);
  }

  // send B: published inside A's handler, a child of A's process span.
  REQUIRE(send_b);
  CHECK(send_b->start.name == "send shipment.packed");
  CHECK(std::any_of(process_a.begin(), process_a.end(),
                    [&](const RecordedSpan& p) { return parent_is(*send_b, p.start.context); }));

  // process B, twice (a failure, then its retry), each a child of B's creation context.
  REQUIRE(process_b.size() >= 2);
  bool failed = false, succeeded = false;
  for (const auto& p : process_b) {
    CHECK(parent_is(p, cb));
    if (p.status.code == trace::Status::Code::error) {
      failed = true;
      CHECK(p.attribute(trace::attr::error_type) == "_OTHER");
      CHECK(p.status.message == "courier busy");
    } else {
      succeeded = true;
    }
  }
  CHECK(failed);
  CHECK(succeeded);

  // settle: the verdict, under the run it settles.
  std::vector<std::string> verdicts;
  for (const auto& s : settles_of_b()) {
    verdicts.push_back(s.attribute(trace::attr::operation_name));
    CHECK(s.attribute(trace::attr::operation_type) == "settle");
    CHECK(std::any_of(process_b.begin(), process_b.end(),
                      [&](const RecordedSpan& p) { return parent_is(s, p.start.context); }));
  }
  CHECK(std::count(verdicts.begin(), verdicts.end(), "retry") >= 1);
  CHECK(std::count(verdicts.begin(), verdicts.end(), "ack") >= 1);
}
