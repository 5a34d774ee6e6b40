#pragma once
// Reading KafkaOptions from a BusConfig. Private to herald::kafka.

#include "herald/config.hpp"
#include "herald/kafka/options.hpp"

namespace herald::kafka {

/// Reads the URL and the options; throws ConfigError naming a bad or unknown key.
KafkaOptions read_options(const BusConfig& config);

}  // namespace herald::kafka
