#pragma once
// A per-thread memo of counters found by (owner, event type), so that the
// hot paths of publish and handling do not take the metrics' lock and look
// in a map for every event.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace herald::detail {

/// The counter `find()` returns for `type`, remembered for this thread.
/// Counters are never removed, so a pointer stays valid for the life of its
/// owner (told apart by an id no other owner had). Several entries, not
/// one: a subscription to `order.*` or a publisher of several types sees
/// them interleaved, and a single entry missed on nearly every event.
/// `Tag` keeps caches whose owners count ids apart from mixing.
template <class Counter, class Tag, class Find>
Counter& cached_counter(std::uint64_t owner, const std::string& type, Find&& find) {
  struct Cached {
    std::uint64_t owner = 0;
    std::string type;
    Counter* counter = nullptr;
  };
  thread_local std::array<Cached, 8> cache;
  thread_local std::size_t next = 0;
  for (const auto& c : cache)
    if (c.owner == owner && c.type == type) return *c.counter;
  Counter& found = find();
  Cached& slot = cache[next++ % cache.size()];
  slot.owner = owner;
  slot.type = type;
  slot.counter = &found;
  return found;
}

}  // namespace herald::detail
