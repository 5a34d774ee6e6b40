#pragma once
// Replay: publishing stored events again, by position range, type pattern or
// aggregate.

#include <cstdint>
#include <functional>

#include "herald/bus.hpp"
#include "herald/event_store.hpp"

namespace herald {

/// How far a replay got, for progress bars.
struct ReplayProgress {
  std::uint64_t published = 0;
  /// Highest position examined so far, and the last one the replay can
  /// reach (the filter's end or the store's last position at the start).
  std::int64_t position = 0;
  std::int64_t first_position = 0;
  std::int64_t last_position = 0;
};

struct ReplayOptions {
  EventFilter filter;
  /// Events read and published per batch.
  std::size_t batch_size = 500;
  /// Called after each batch (on the replaying thread).
  std::function<void(const ReplayProgress&)> on_progress;
};

/// Publishes the stored events that pass `options.filter` to `bus` in
/// position order, unchanged (same ids: idempotent consumers skip what they
/// handled before), in batches. Every group subscribed to a type receives its
/// events again; the EventBus API has no way to address a single group, so
/// to replay into one group subscribe a fresh bus with only that group, or
/// use that group's dead-letter replay. Blocks; returns how many were
/// published. Throws StoreError, or what EventBus::publish throws.
std::uint64_t replay(EventStore& store, EventBus& bus, const ReplayOptions& options);

}  // namespace herald
