#pragma once
// The relay's batches: claim, publish, mark (relay_pass and Relay's passes).

#include <cstddef>
#include <functional>

#include "herald/relay.hpp"

namespace herald::detail {

/// Batches until none is left, `max_batches` were done, `go_on` (when set)
/// says stop, or the transport is down. `options.owner` must be set.
RelayStats run_batches(EventStore& store, EventBus& bus, const RelayOptions& options, std::size_t max_batches,
                       const std::function<bool()>& go_on);

}  // namespace herald::detail
