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

  /// Counts `n` deliveries in; blocks while the queue is full. Throws
  /// PublishError when no room came within publish_timeout.
  void reserve(std::size_t n);
  /// Counts `n` deliveries out (finished: handled or dead-lettered).
  void release(std::size_t n);
  /// Waits until nothing is counted; false after `timeout`.
  bool flush(std::chrono::milliseconds timeout);

 private:
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
