#pragma once
// Time as a dependency: the bus asks a Scheduler for the time and for timers,
// so tests of backoff run in simulated time.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace herald {

class Scheduler {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Scheduler() = default;
  virtual TimePoint now() const = 0;
  /// Runs `task` once, on the scheduler's own thread, no sooner than `delay`
  /// from now. Thread-safe. Tasks still pending at destruction are dropped.
  virtual void run_after(std::chrono::milliseconds delay, std::function<void()> task) = 0;
};

/// Real time, one timer thread (started lazily).
std::shared_ptr<Scheduler> make_system_scheduler();

/// Simulated time for tests: nothing runs until advance() moves the clock;
/// due tasks then run on the thread that calls advance(), in time order.
class ManualScheduler final : public Scheduler {
 public:
  ManualScheduler();
  ~ManualScheduler() override;
  TimePoint now() const override;
  void run_after(std::chrono::milliseconds delay, std::function<void()> task) override;
  /// Moves time forward by `by`, running every task that falls due.
  void advance(std::chrono::milliseconds by);
  /// Number of tasks waiting.
  std::size_t pending() const;
  /// Tasks given to run_after so far, run or not (a test harness tells by it
  /// that a retry it saw counted is waiting on the clock).
  std::uint64_t scheduled() const;
  /// Delay of the earliest waiting task from now (or -1ms when none).
  std::chrono::milliseconds next_due() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace herald
