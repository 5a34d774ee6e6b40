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
      bus = make_bus(c);
    }
  }

  TransportUnderTest transport = transport_under_test();
  std::string ns = unique_name("conf");
  std::unique_ptr<EventBus> bus = make_bus(transport.config(ns));
  Features features = bus->features();
  std::shared_ptr<ManualScheduler> clock;

  std::unique_ptr<EventBus> another_bus() const { return make_bus(transport.config(ns)); }
  std::string group(const std::string& name) const { return ns + "-" + name; }
};

}  // namespace herald::test
