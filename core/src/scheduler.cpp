#include "herald/scheduler.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace herald {

namespace {

// One timer thread per scheduler; tasks in a multimap ordered by due time.
class SystemScheduler final : public Scheduler {
 public:
  ~SystemScheduler() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  void run_after(std::chrono::milliseconds delay, std::function<void()> task) override {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      tasks_.emplace(now() + delay, std::move(task));
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_all();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (tasks_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto due = tasks_.begin()->first;
      if (now() < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      auto task = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
      lock.unlock();
      task();
      lock.lock();
    }
  }
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<TimePoint, std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::shared_ptr<Scheduler> make_system_scheduler() { return std::make_shared<SystemScheduler>(); }

struct ManualScheduler::State {
  mutable std::mutex mutex;
  TimePoint now{};
  std::multimap<TimePoint, std::function<void()>> tasks;
  std::uint64_t scheduled = 0;
};

ManualScheduler::ManualScheduler() : state_(std::make_unique<State>()) {}
ManualScheduler::~ManualScheduler() = default;

Scheduler::TimePoint ManualScheduler::now() const {
  std::lock_guard lock(state_->mutex);
  return state_->now;
}

void ManualScheduler::run_after(std::chrono::milliseconds delay, std::function<void()> task) {
  std::lock_guard lock(state_->mutex);
  state_->tasks.emplace(state_->now + delay, std::move(task));
  ++state_->scheduled;
}

void ManualScheduler::advance(std::chrono::milliseconds by) {
  std::unique_lock lock(state_->mutex);
  TimePoint target = state_->now + by;
  while (!state_->tasks.empty() && state_->tasks.begin()->first <= target) {
    auto it = state_->tasks.begin();
    state_->now = std::max(state_->now, it->first);
    auto task = std::move(it->second);
    state_->tasks.erase(it);
    lock.unlock();
    task();
    lock.lock();
  }
  state_->now = target;
}

std::size_t ManualScheduler::pending() const {
  std::lock_guard lock(state_->mutex);
  return state_->tasks.size();
}

std::uint64_t ManualScheduler::scheduled() const {
  std::lock_guard lock(state_->mutex);
  return state_->scheduled;
}

std::chrono::milliseconds ManualScheduler::next_due() const {
  std::lock_guard lock(state_->mutex);
  if (state_->tasks.empty()) return std::chrono::milliseconds(-1);
  return std::chrono::duration_cast<std::chrono::milliseconds>(state_->tasks.begin()->first - state_->now);
}

}  // namespace herald
