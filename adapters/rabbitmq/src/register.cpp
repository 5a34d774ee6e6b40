#include "herald/ext/transport.hpp"
#include "rabbit_bus.hpp"

namespace {

// Runs at start-up because herald::rabbitmq is linked whole (see HeraldAdapter.cmake).
const bool registered = [] {
  herald::register_transport("amqp", herald::rabbitmq::make_rabbit_bus);
  herald::register_transport("amqps", herald::rabbitmq::make_rabbit_bus);
  return true;
}();

}  // namespace
