#pragma once
// The conformance suite: one set of test bodies, compiled once per transport.
// Each conformance binary links exactly one transport_<name>.cpp that defines
// transport_under_test().

#include <functional>
#include <string>

#include "herald/bus.hpp"
#include "herald/config.hpp"

namespace herald::test {

struct TransportUnderTest {
  std::string name;
  /// Config for a fresh bus isolated in namespace `ns` (a unique word made of
  /// [a-z0-9-]): brokers keep state between tests, so each test gets its own
  /// exchange / topic prefix. Two buses made with the same `ns` see each
  /// other's events (used by the multi-process and restart tests).
  std::function<BusConfig(const std::string& ns)> config;
};

TransportUnderTest transport_under_test();

}  // namespace herald::test
