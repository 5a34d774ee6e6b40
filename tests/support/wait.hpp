#pragma once
// Waiting on conditions with a deadline: tests never sleep to synchronise.

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace herald::test {

/// Polls `done` until it holds or `timeout` passes; returns its last value.
/// Polling (with a short pause) is fine here: the deadline is what the test
/// asserts on, not the pause.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

/// Environment variable or fallback.
inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

/// A name no other test run uses (brokers keep state between runs).
std::string unique_name(const std::string& prefix);

/// Thread-safe recorder of handled events.
template <class T>
class Recorder {
 public:
  void add(T value) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(value));
    cv_.notify_all();
  }
  std::vector<T> items() const {
    std::lock_guard lock(mutex_);
    return items_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  /// Waits until at least `n` items were recorded.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return items_.size() >= n; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::vector<T> items_;
};

}  // namespace herald::test
