#pragma once
// Worker threads of one consumer group. Jobs with the same key (the event's
// partitionkey) run one at a time in arrival order; other jobs run in
// parallel up to the limit. Handlers run here, never on the I/O thread.
// Private to herald::rabbitmq.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "message.hpp"

namespace herald::rabbitmq {

/// One delivery waiting for a worker. `generation` names the channel it came
/// on: a job from a channel that is gone must not be acked.
struct Job {
  std::uint64_t generation = 0;
  int lane = 0;  // which of the group's channels it came on
  Delivery delivery;
  std::string key;
};

class Dispatcher {
 public:
  /// Runs a job; false leaves it not run, to be taken again first once the
  /// dispatcher is resumed (its delivery stays unacked meanwhile).
  using Run = std::function<bool(Job&)>;
  using Idle = std::function<void()>;

  /// `idle` runs on a worker about to wait for work (outside the lock).
  Dispatcher(Run run, Idle idle);
  /// Stops and joins.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Jobs running at once; threads are started as needed. Thread-safe.
  void set_limit(int limit);
  /// Queues jobs in order (keyed jobs behind earlier ones with the same key).
  void push(std::vector<Job>& jobs);
  /// Drops every job not started yet (their channel is gone: the broker redelivers them).
  void discard_queued();
  /// Stops taking jobs (running ones go on).
  void pause();
  /// pause(), then waits for the running jobs to return. Not from a worker.
  void quiesce();
  /// Takes jobs again after quiesce().
  void resume();
  /// quiesce(), then joins the threads (or, from a worker, lets them end on their own).
  void stop();
  bool on_worker_thread() const;
  /// Jobs queued or running.
  std::size_t busy() const;

 private:
  struct Item {
    bool keyed = false;
    std::string key;  // keyed: run the head of keys_[key]
    Job job;          // unkeyed
  };
  void work();
  void enqueue(Job job);  // with mutex_ held
  bool is_worker(std::thread::id id) const;  // with mutex_ held

  Run run_;
  Idle idle_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;       // workers wait for items
  std::condition_variable idle_cv_;  // quiesce waits for running == 0
  std::deque<Item> ready_;
  std::unordered_map<std::string, std::deque<Job>> keys_;  // present while the key is queued or running
  std::size_t queued_ = 0;
  int running_ = 0;
  int limit_ = 1;
  bool paused_ = false;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace herald::rabbitmq
