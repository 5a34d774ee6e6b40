#pragma once
// The in-process transport. Private to herald::memory.

#include <memory>

#include "herald/config.hpp"
#include "herald/memory/options.hpp"

namespace herald::memory {

MemoryOptions read_options(const BusConfig& config);
std::unique_ptr<EventBus> make_memory_bus(const BusConfig& config, const MemoryOptions& options);

}  // namespace herald::memory
