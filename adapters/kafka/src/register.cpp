#include "herald/ext/transport.hpp"
#include "kafka_bus.hpp"
#include "read_options.hpp"

namespace {

// Runs at start-up because herald::kafka is linked whole (see HeraldAdapter.cmake).
const bool registered = [] {
  herald::register_transport("kafka", [](const herald::BusConfig& config) {
    return herald::kafka::make_kafka_bus(config, herald::kafka::read_options(config));
  });
  return true;
}();

}  // namespace
