#pragma once
// Back-pressure for the memory bus: events published and not yet finished
// are counted; past queue_limit a publisher waits (up to publish_timeout)
// until the count is down to three quarters of the limit, then fails with
// PublishError. flush() waits for the count to reach zero. Thread-safe.
// Private to herald::memory.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "herald/memory/options.hpp"

namespace herald::memory {

class Admission {
 public:
  explicit Admission(const MemoryOptions& options);

  // reserve() and release() run for every event: their fast paths are
  // here, to be inlined into the publisher's and the workers' loops.

  /// Counts `n` deliveries in; blocks while the queue is full. Throws
  /// PublishError when no room came within publish_timeout.
  void reserve(std::size_t n) {
    std::size_t now = pending_.fetch_add(n, std::memory_order_acq_rel) + n;
    if (now <= limit_ || unbounded_) return;
    wait_for_room(n);
  }
  /// Counts `n` deliveries out (finished: handled or dead-lettered).
  void release(std::size_t n) {
    std::size_t left = pending_.fetch_sub(n) - n;  // seq_cst: pairs with the waiter's increment
    // Waiters register under the mutex before they check, so a waiter that
    // is not counted yet will see the new value itself. Publishers waiting
    // for room are woken at three quarters of the limit, not at every event,
    // so a full queue does not turn into a wake-up per handled event.
    bool crossed = left <= low_water_ && left + n > low_water_;
    if ((left == 0 || crossed || (left <= low_water_ && left % 64 == 0)) && waiters_.load() > 0) wake();
  }
  /// Waits until nothing is counted; false after `timeout`.
  bool flush(std::chrono::milliseconds timeout);

 private:
  void wait_for_room(std::size_t n);
  void wake();

  const std::size_t limit_;
  const std::chrono::milliseconds timeout_;
  const bool unbounded_;  // inline dispatch: the publisher runs the handlers itself
  // Publishers that found the queue full resume once it is down to this.
  const std::size_t low_water_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<int> waiters_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace herald::memory
