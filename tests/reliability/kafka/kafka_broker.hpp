#pragma once
// Test support: drive scripts/brokers/kafka (found through the
// HERALD_SOURCE_DIR compile definition) to crash and restart the broker.

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "broker_command.hpp"

namespace herald::test {

/// Runs `scripts/brokers/kafka <command>` (broker_command.hpp); throws when it fails.
inline void kafka_script(const std::string& command) {
  const std::string line = broker_command("kafka") + " " + command + " >/dev/null";
  if (std::system(line.c_str()) != 0) throw std::runtime_error("'" + line + "' failed");
}

}  // namespace herald::test
