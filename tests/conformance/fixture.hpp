#pragma once
// Shared pieces of the conformance test bodies.

#include <chrono>
#include <memory>
#include <string>

#include "harness.hpp"
#include "herald/config.hpp"
#include "herald/scheduler.hpp"
#include "test_options.hpp"
#include "wait.hpp"

namespace herald::test {

enum class Time { real, simulated };

/// A bus of the transport under test, isolated in its own namespace.
/// `Time::simulated` asks for retries on a ManualScheduler (`clock`) where the
/// transport supports it (Features::simulated_time); elsewhere `clock` stays
/// null and the test waits in real time.
struct BusFixture {
  explicit BusFixture(Time time = Time::real) {
    if (time == Time::simulated && features.simulated_time) {
      clock = std::make_shared<ManualScheduler>();
      BusConfig c = transport.config(ns);
      c.scheduler = clock;
      bus = transport.open(ns, c);
    }
  }

  TransportUnderTest transport = transport_under_test();
  std::string ns = unique_name("conf");
  std::unique_ptr<EventBus> bus = transport.open(ns, transport.config(ns));
  Features features = bus->features();
  std::shared_ptr<ManualScheduler> clock;

  std::unique_ptr<EventBus> another_bus() const { return transport.open(ns, transport.config(ns)); }
  std::string group(const std::string& name) const { return ns + "-" + name; }

  /// The bus that delivers: `bus`, or the transport below it when `bus` is
  /// a decorator (the outbox).
  EventBus& delivering_bus() const { return transport.below ? transport.below(*bus) : *bus; }
  /// The group's counters, summed over types, from the metrics that count
  /// retries and dead letters (Features::retry_metrics).
  MetricsSnapshot::Consumer totals(const std::string& group_name) const {
    const Metrics& m = features.retry_metrics ? bus->metrics() : delivering_bus().metrics();
    return m.snapshot().total(group_name);
  }
};

}  // namespace herald::test
