#pragma once
// herald's own OTLP/HTTP JSON span exporter: a Tracer (herald/tracing.hpp)
// that sends finished spans to an OpenTelemetry collector, without
// opentelemetry-cpp. Installed for the whole process when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (OTEL_SERVICE_NAME names the service),
// or by hand:
//
// \code
//   auto exporter = std::make_shared<herald::trace::OtlpExporter>(
//       herald::trace::OtlpOptions{.endpoint = "http://127.0.0.1:4318/v1/traces", .service_name = "orders"});
//   herald::trace::set_tracer(exporter);
// \endcode
//
// Spans wait in a bounded queue and leave in batches from one background
// thread; a publisher or handler never waits for the collector. When the
// queue is full, or the collector refuses or cannot be reached, spans are
// dropped and counted (stats()).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "herald/tracing.hpp"

namespace herald::trace {

struct OtlpOptions {
  /// Full URL of the traces endpoint: http://host:port/v1/traces (plain HTTP).
  std::string endpoint;
  /// The resource's service.name.
  std::string service_name = "unknown_service";
  /// Extra request headers (OTEL_EXPORTER_OTLP_HEADERS), e.g. an API key.
  std::map<std::string, std::string> headers;
  /// Finished spans waiting to be sent at most; more are dropped.
  std::size_t max_queue = 2048;
  /// Spans per request at most.
  std::size_t max_batch = 512;
  /// How long a span may wait for its batch to fill.
  std::chrono::milliseconds interval{1000};
  /// One request's connect, write and read together.
  std::chrono::milliseconds timeout{5000};

  /// From the standard variables: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used
  /// as is) or OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"),
  /// OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS (k=v,k=v),
  /// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
  /// OTEL_BSP_SCHEDULE_DELAY (ms), OTEL_EXPORTER_OTLP_TIMEOUT (ms).
  /// endpoint is empty when neither endpoint variable is set.
  static OtlpOptions from_environment();
};

/// What the exporter did so far.
struct OtlpStats {
  std::uint64_t exported = 0;  ///< spans the collector accepted
  std::uint64_t dropped = 0;   ///< spans lost: queue full, collector down or refusing
  std::uint64_t requests_failed = 0;
};

class OtlpExporter final : public Tracer {
 public:
  /// Starts the sending thread. Throws ConfigError for an endpoint that is
  /// not http://host[:port][/path].
  explicit OtlpExporter(OtlpOptions options);
  /// Sends what is queued (within one timeout) and stops.
  ~OtlpExporter() override;

  /// False while the queue is full (the span is counted as dropped).
  bool recording() const noexcept override;
  std::unique_ptr<Span> start_span(SpanStart start) override;
  /// Waits until every span ended so far was sent or dropped; false when
  /// `timeout` passed first.
  bool flush(std::chrono::milliseconds timeout);
  OtlpStats stats() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace herald::trace
