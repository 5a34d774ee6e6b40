#pragma once
// A fixed set of worker threads, each draining its own FIFO queue. Work for
// one key always goes to the same lane, so it runs in order; lanes run in
// parallel. The consumer's poll thread feeds them; handlers run here.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

namespace herald::kafka {

template <class Task>
class Lanes {
 public:
  /// `run(lane, task)` runs on lane `lane`'s thread, one task at a time.
  Lanes(std::size_t count, std::function<void(std::size_t, Task&)> run) : run_(std::move(run)), lanes_(count) {
    for (std::size_t i = 0; i < count; ++i) lanes_[i].thread = std::thread([this, i] { loop(i); });
  }
  ~Lanes() { stop(); }
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  std::size_t size() const noexcept { return lanes_.size(); }

  /// Queues tasks on `lane`; false (tasks untouched) once stopped.
  bool push(std::size_t lane, std::vector<Task>& tasks) {
    Lane& l = lanes_[lane];
    {
      std::lock_guard lock(l.mutex);
      if (l.stopped) return false;
      for (auto& t : tasks) l.queue.push_back(std::move(t));
    }
    l.ready.notify_one();
    tasks.clear();
    return true;
  }
  bool push(std::size_t lane, Task task) {
    std::vector<Task> one;
    one.push_back(std::move(task));
    return push(lane, one);
  }

  /// Lets each lane finish the task it runs, drops what is queued, joins.
  /// Must not be called from a lane thread.
  void stop() {
    for (auto& l : lanes_) {
      std::lock_guard lock(l.mutex);
      l.stopped = true;
      l.stopping.store(true, std::memory_order_release);
    }
    for (auto& l : lanes_) {
      l.ready.notify_all();
      if (l.thread.joinable()) l.thread.join();
      std::deque<Task> dropped;
      std::lock_guard lock(l.mutex);
      dropped.swap(l.queue);
    }
  }

 private:
  struct Lane {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Task> queue;
    bool stopped = false;                // guarded by mutex, for the wait
    std::atomic<bool> stopping{false};   // the same, read between tasks
    std::thread thread;
  };

  void loop(std::size_t index) {
    pthread_setname_np(pthread_self(), "herald-lane");
    Lane& l = lanes_[index];
    std::deque<Task> batch;
    for (;;) {
      {
        std::unique_lock lock(l.mutex);
        l.ready.wait(lock, [&] { return l.stopped || !l.queue.empty(); });
        if (l.stopped) return;  // queued tasks are dropped with the lane
        batch.swap(l.queue);
      }
      while (!batch.empty()) {
        if (l.stopping.load(std::memory_order_acquire)) return;
        run_(index, batch.front());
        batch.pop_front();
      }
    }
  }

  std::function<void(std::size_t, Task&)> run_;
  std::vector<Lane> lanes_;
};

}  // namespace herald::kafka
