#include <catch2/catch.hpp>

#include "herald/config.hpp"
#include "herald/context.hpp"
#include "herald/tracing.hpp"
#include "recording_tracer.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a traceparent reads back as it was written", "[trace]") {
  const std::string text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  trace::SpanContext c = trace::parse_traceparent(text, "vendor=1");
  REQUIRE(c.valid());
  CHECK(c.trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(c.span_id_hex() == "00f067aa0ba902b7");
  CHECK(c.flags == 1);
  CHECK(c.tracestate == "vendor=1");
  CHECK(trace::format_traceparent(c) == text);
}

TEST_CASE("a damaged traceparent reads as no context, so a new trace starts", "[trace]") {
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}) {
    INFO(bad);
    CHECK_FALSE(trace::parse_traceparent(bad).valid());
  }
  // A later version may add fields after a dash.
  CHECK(trace::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later").valid());
}

TEST_CASE("a child keeps the trace and gets a span of its own", "[trace]") {
  trace::SpanContext root = trace::child_of({});
  REQUIRE(root.valid());
  trace::SpanContext child = trace::child_of(root);
  CHECK(child.trace_id == root.trace_id);
  CHECK(child.span_id != root.span_id);
  CHECK(trace::child_of({}).trace_id != root.trace_id);
}

TEST_CASE("a scope is the context publish continues; a handled event's context hides it", "[trace]") {
  auto bus = make_bus("memory://?dispatch=inline");
  trace::SpanContext outer = trace::child_of({});
  Envelope inside;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "g"}, [&](const Envelope& e) {
    if (e.type == "order.placed") {
      bus->publish(Envelope::make("order.billed", {}));
    } else {
      inside = e;
    }
  });
  Envelope placed = Envelope::make("order.placed", {});
  placed.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  {
    trace::Scope scope(outer);
    CHECK(trace::current() == outer);
    bus->publish(placed);
  }
  CHECK_FALSE(trace::current().valid());
  // Published in the handler: the handled event's trace, not the scope's.
  CHECK(trace::parse_traceparent(inside.traceparent).trace_id_hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("a tracer that throws costs a span, never a publish or a handler run", "[trace]") {
  struct Throwing final : trace::Tracer {
    std::unique_ptr<trace::Span> start_span(trace::SpanStart) override { throw std::runtime_error("tracer down"); }
  };
  TracerInstalled installed(std::make_shared<Throwing>());
  auto bus = make_bus("memory://?dispatch=inline");
  int runs = 0;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "g"}, [&](const Envelope&) { ++runs; });
  CHECK_NOTHROW(bus->publish(Envelope::make("order.placed", {})));
  CHECK(runs == 1);
}
