#pragma once
// The Kafka transport. Private to herald::kafka.

#include <memory>

#include "herald/config.hpp"
#include "herald/kafka/options.hpp"

namespace herald::kafka {

std::unique_ptr<EventBus> make_kafka_bus(const BusConfig& config, KafkaOptions options);

}  // namespace herald::kafka
