#pragma once
// What a consumer group has left on Kafka: its lag on the event topics its
// pattern reads (pending) and on its retry topics (retrying), from its
// committed offsets and the high watermarks. Private to herald::kafka.

#include <string>

#include "bus_services.hpp"

namespace herald::kafka {

/// pending and retrying, with `exists` when the group committed anywhere
/// there; `dead` is left 0 (DeadLetterTopics counts those). Blocks for
/// broker round trips; throws TransportError.
GroupBacklog read_group_lag(BusServices& bus, const std::string& group, const std::string& pattern);

}  // namespace herald::kafka
