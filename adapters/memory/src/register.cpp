#include "herald/ext/transport.hpp"
#include "memory_bus.hpp"

namespace {

// Runs at start-up because herald::memory is linked whole (see HeraldAdapter.cmake).
const bool registered = [] {
  herald::register_transport("memory", [](const herald::BusConfig& config) {
    return herald::memory::make_memory_bus(config, herald::memory::read_options(config));
  });
  return true;
}();

}  // namespace
