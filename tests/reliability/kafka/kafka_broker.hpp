#pragma once
// Test support: drive scripts/brokers/kafka (found through the
// HERALD_SOURCE_DIR compile definition) to crash and restart the broker.

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace herald::test {

/// Runs `scripts/brokers/kafka <command>`; throws when it fails.
inline void kafka_script(const std::string& command) {
  const std::string line = std::string(HERALD_SOURCE_DIR) + "/scripts/brokers/kafka " + command + " >/dev/null";
  if (std::system(line.c_str()) != 0) throw std::runtime_error("'" + line + "' failed");
}

}  // namespace herald::test
