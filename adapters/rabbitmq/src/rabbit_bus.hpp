#pragma once
// The RabbitMQ transport (amqp://, amqps://). Private to herald::rabbitmq;
// applications reach it through herald::make_bus.

#include <memory>

#include "herald/bus.hpp"
#include "herald/config.hpp"

namespace herald::rabbitmq {

/// Reads the options, connects the publisher and declares the exchange.
/// Throws ConfigError (bad option, refused login, conflicting exchange) or
/// TransportError (broker unreachable).
std::unique_ptr<EventBus> make_rabbit_bus(const BusConfig& config);

}  // namespace herald::rabbitmq
