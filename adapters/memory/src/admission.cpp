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

void Admission::reserve(std::size_t n) {
  std::size_t now = pending_.fetch_add(n, std::memory_order_acq_rel) + n;
  if (now <= limit_ || unbounded_) return;
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

void Admission::release(std::size_t n) {
  std::size_t left = pending_.fetch_sub(n) - n;  // seq_cst: pairs with the waiter's increment
  // Waiters register under the mutex before they check, so a waiter that
  // is not counted yet will see the new value itself. Publishers waiting
  // for room are woken at three quarters of the limit, not at every event,
  // so a full queue does not turn into a wake-up per handled event.
  bool crossed = left <= low_water_ && left + n > low_water_;
  if ((left == 0 || crossed || (left <= low_water_ && left % 64 == 0)) && waiters_.load() > 0) {
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  }
}

bool Admission::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ++waiters_;
  bool ok = changed_.wait_for(lock, timeout, [&] { return pending_ == 0; });
  --waiters_;
  return ok;
}

}  // namespace herald::memory
