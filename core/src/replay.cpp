#include "herald/replay.hpp"

#include <algorithm>

#include "herald/errors.hpp"

namespace herald {

std::uint64_t replay(EventStore& store, EventBus& bus, const ReplayOptions& options) {
  options.filter.validate();
  if (options.batch_size == 0) throw ConfigError("replay: batch_size must be at least 1");
  ReplayProgress progress;
  progress.first_position = options.filter.from_position;
  // Events appended while the replay runs are not part of it.
  progress.last_position = std::min(options.filter.to_position, store.backlog().last_position);
  std::int64_t after = options.filter.from_position - 1;
  progress.position = after;
  while (after < progress.last_position) {
    ScanResult step = store.scan(options.filter, after, options.batch_size);
    std::vector<Envelope> events;
    events.reserve(step.events.size());
    for (auto& row : step.events)
      if (row.position <= progress.last_position) events.push_back(std::move(row.event));
    std::size_t n = events.size();
    if (n > 0) bus.publish(std::move(events));
    progress.published += n;
    after = std::max(after, step.scanned_to);
    progress.position = std::min(after, progress.last_position);
    if (options.on_progress) options.on_progress(progress);
    if (step.finished) break;
  }
  return progress.published;
}

}  // namespace herald
