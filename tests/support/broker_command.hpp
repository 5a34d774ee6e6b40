#pragma once
// The command the reliability tests crash and restart a broker with:
// scripts/brokers/<broker> for the native brokers, or, when
// HERALD_TEST_BROKER_CONTROL is set, `$HERALD_TEST_BROKER_CONTROL <broker>`
// (scripts/test --containers sets it to `scripts/containers broker`, whose
// kill9 is `docker kill`). Either takes start|stop|restart|kill9.
// Needs the HERALD_SOURCE_DIR compile definition.

#include <cstdlib>
#include <string>

namespace herald::test {

inline std::string broker_command(const std::string& broker) {
  const char* control = std::getenv("HERALD_TEST_BROKER_CONTROL");
  if (control && *control) return std::string(control) + " " + broker;
  return std::string(HERALD_SOURCE_DIR) + "/scripts/brokers/" + broker;
}

}  // namespace herald::test
