#include "admission.hpp"

#include <algorithm>
#include <string>

#include "herald/errors.hpp"

namespace herald::memory {

Admission::Admission(const MemoryOptions& options)
    : limit_(options.queue_limit),
      timeout_(options.publish_timeout),
      unbounded_(options.inline_dispatch),
      low_water_(options.queue_limit - std::max<std::size_t>(1, options.queue_limit / 4)) {}

void Admission::wait_for_room(std::size_t n) {
  // Back-pressure: wait for room, then give the slots back and fail.
  std::unique_lock lock(mutex_);
  ++waiters_;
  bool ok = changed_.wait_for(lock, timeout_, [&] { return pending_.load() - n <= low_water_; });
  --waiters_;
  if (!ok) {
    lock.unlock();
    release(n);
    throw PublishError("memory: queue full (" + std::to_string(limit_) + " events waiting) and no room within " +
                       std::to_string(timeout_.count()) + " ms; raise queue_limit or add workers");
  }
}

void Admission::wake() {
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

bool Admission::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ++waiters_;
  bool ok = changed_.wait_for(lock, timeout, [&] { return pending_ == 0; });
  --waiters_;
  return ok;
}

}  // namespace herald::memory
