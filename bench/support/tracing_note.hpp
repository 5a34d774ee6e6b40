#pragma once
// What the benchmark traced with: the switch is the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (herald's OTLP exporter on, docs/observability.md);
// unset, no tracer records and only trace context is stamped.

#include <cstdio>
#include <memory>

#include "herald/otlp.hpp"
#include "herald/tracing.hpp"

namespace herald::bench {

/// One line: the tracer in use and, for the OTLP exporter, what it sent and dropped.
inline void print_tracing(const char* when) {
  auto t = trace::tracer();
  if (!t) {
    std::printf("  tracing (%s): no tracer (trace context only)\n", when);
    return;
  }
  if (auto* otlp = dynamic_cast<trace::OtlpExporter*>(t.get())) {
    otlp->flush(std::chrono::seconds(10));
    auto s = otlp->stats();
    std::printf("  tracing (%s): OTLP exporter, spans exported %llu, dropped %llu, failed requests %llu\n", when,
                static_cast<unsigned long long>(s.exported), static_cast<unsigned long long>(s.dropped),
                static_cast<unsigned long long>(s.requests_failed));
    return;
  }
  std::printf("  tracing (%s): a tracer of the application's\n", when);
}

}  // namespace herald::bench
