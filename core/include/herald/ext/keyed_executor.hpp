#pragma once
// For transport authors: where handlers run. Jobs with the same key (an
// event's partitionkey) run one at a time, in the order they were pushed;
// jobs of other keys, and jobs without a key, run in parallel on the
// executor's own threads, at most `budget` at once (a subscription's
// concurrency). The thread that receives from the broker pushes; handlers
// never run on it.
//
// \code
//   struct Job { std::string key; Delivery delivery; };
//   ext::KeyedExecutor<Job> workers({.name = "herald-rabbit", .budget = 4},
//                                   [&](Job& job) { handle(job); return Step::done; });
//   std::vector<Job> batch = take_from_socket();
//   workers.push(batch);                  // one lock and one wake-up per batch
//   ...
//   workers.stop();                       // waits for running jobs, joins
// \endcode
//
// A job may decline to run (Step::put_back, e.g. while its subscription
// closes): it goes back to the head of its key and is taken again once the
// executor is resumed. Nothing a job throws leaves a worker thread: it is
// reported to `on_error` and the job counts as done.
//
// Thread-safe; stop() may be called from a job (the threads then end on
// their own and the destructor, run elsewhere, joins them).

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace herald::ext {

namespace detail {
/// Names the calling thread (as top and gdb show it); best effort.
void name_thread(const std::string& name) noexcept;
/// The message of the exception being handled, never throwing.
std::string describe_current_exception() noexcept;
}  // namespace detail

/// One error line (herald/log.hpp): what a job of `executor` threw. What KeyedExecutor
/// does when no `on_error` was given, or when that threw too.
void report_escaped(const std::string& executor, const std::string& what) noexcept;

/// What a job did.
enum class Step {
  done,      ///< finished (whatever its outcome); the next job of its key may start
  put_back,  ///< not run: back to the head of its key, taken again after resume()
};

template <class Job>
class KeyedExecutor {
 public:
  using Run = std::function<Step(Job&)>;

  struct Options {
    std::string name = "herald-worker";  ///< thread name (15 characters shown)
    int budget = 1;                      ///< jobs running at once
    /// Runs on a worker about to wait for work (outside the lock): a
    /// moment to flush what jobs left batched (acks).
    std::function<void()> idle;
    /// What a job threw (the job, the exception's message): e.g. leave its
    /// message to the broker. Defaults to report_escaped().
    std::function<void(Job&, const std::string&)> on_error;
  };

  /// `Job` has a `std::string key` (empty: no order to keep).
  KeyedExecutor(Options options, Run run) : options_(std::move(options)), run_(std::move(run)) {
    set_budget(options_.budget);
  }
  ~KeyedExecutor() { stop(); }
  KeyedExecutor(const KeyedExecutor&) = delete;
  KeyedExecutor& operator=(const KeyedExecutor&) = delete;

  /// Jobs running at once; threads are started as needed (never fewer).
  void set_budget(int budget) {
    std::lock_guard lock(mutex_);
    budget_ = std::max(1, budget);
    while (static_cast<int>(threads_.size()) < budget_ && !stopping_) threads_.emplace_back([this] { work(); });
    ready_cv_.notify_all();
  }

  /// Queues `jobs` in order (each behind earlier jobs of its key) and
  /// clears the vector; dropped once stopped.
  void push(std::vector<Job>& jobs) {
    if (jobs.empty()) return;
    bool many;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        jobs.clear();
        return;
      }
      for (auto& job : jobs) enqueue(std::move(job));
      many = ready_.size() > 1 && budget_ > 1;
    }
    jobs.clear();
    // One wake-up per batch, not per job.
    if (many)
      ready_cv_.notify_all();
    else
      ready_cv_.notify_one();
  }
  void push(Job job) {
    std::vector<Job> one;
    one.push_back(std::move(job));
    push(one);
  }

  /// Drops every job not started yet (their source is gone: a broker sends them again).
  void discard_queued() {
    std::lock_guard lock(mutex_);
    // A key with a token in ready_ is only queued; any other key is running
    // and keeps its (now empty) entry until its job returns.
    std::unordered_set<std::string> queued_keys;
    for (const auto& i : ready_)
      if (i.keyed) queued_keys.insert(i.key);
    ready_.clear();
    for (auto it = keys_.begin(); it != keys_.end();) {
      if (queued_keys.count(it->first)) {
        it = keys_.erase(it);
      } else {
        it->second.clear();
        ++it;
      }
    }
    queued_ = 0;
  }

  /// Starts no more jobs (running ones go on).
  void pause() {
    std::lock_guard lock(mutex_);
    paused_ = true;
  }
  /// pause(), then waits for the running jobs to return. Not from a job.
  void quiesce() {
    std::unique_lock lock(mutex_);
    paused_ = true;
    idle_cv_.wait(lock, [&] { return running_ == 0; });
  }
  /// Starts jobs again after pause() or quiesce().
  void resume() {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    paused_ = false;
    ready_cv_.notify_all();
  }
  /// quiesce(), then joins the threads; queued jobs are dropped. From a job
  /// it returns at once: the threads end after their jobs, the destructor joins.
  void stop() {
    std::vector<std::thread> threads;
    {
      std::unique_lock lock(mutex_);
      paused_ = true;
      stopping_ = true;
      ready_cv_.notify_all();
      if (is_worker(std::this_thread::get_id())) return;
      idle_cv_.wait(lock, [&] { return running_ == 0; });
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  bool on_worker_thread() const {
    std::lock_guard lock(mutex_);
    return is_worker(std::this_thread::get_id());
  }
  /// Jobs queued or running.
  std::size_t busy() const {
    std::lock_guard lock(mutex_);
    return queued_ + static_cast<std::size_t>(running_);
  }

 private:
  // The ready queue holds unkeyed jobs, and for a key a token: run the head
  // of keys_[key]. A key has at most one token, so at most one of its jobs runs.
  struct Item {
    bool keyed = false;
    std::string key;
    Job job;  // unkeyed
  };

  void enqueue(Job job) {  // with mutex_ held
    ++queued_;
    if (job.key.empty()) {
      ready_.push_back(Item{false, {}, std::move(job)});
      return;
    }
    auto [it, fresh] = keys_.try_emplace(job.key);
    std::string key = job.key;
    it->second.push_back(std::move(job));
    if (fresh) ready_.push_back(Item{true, std::move(key), {}});
  }

  bool is_worker(std::thread::id id) const {  // with mutex_ held
    return std::any_of(threads_.begin(), threads_.end(), [&](const std::thread& t) { return t.get_id() == id; });
  }

  Step run_guarded(Job& job) noexcept {
    try {
      return run_(job);
    } catch (...) {
      const std::string what = detail::describe_current_exception();
      try {
        if (options_.on_error) options_.on_error(job, what);
        else report_escaped(options_.name, what);
      } catch (...) {
        report_escaped(options_.name, what);
      }
      return Step::done;
    }
  }

  void idle() noexcept {
    if (!options_.idle) return;
    try {
      options_.idle();
    } catch (...) {
      report_escaped(options_.name, detail::describe_current_exception());
    }
  }

  void work() {
    detail::name_thread(options_.name);
    std::unique_lock lock(mutex_);
    while (true) {
      auto can_run = [&] { return stopping_ || (!paused_ && !ready_.empty() && running_ < budget_); };
      if (!can_run()) {
        lock.unlock();
        idle();
        lock.lock();
        ready_cv_.wait(lock, can_run);
      }
      if (stopping_) return;
      Item item = std::move(ready_.front());
      ready_.pop_front();
      Job job;
      if (item.keyed) {
        auto it = keys_.find(item.key);
        if (it == keys_.end() || it->second.empty()) {
          if (it != keys_.end()) keys_.erase(it);
          continue;
        }
        job = std::move(it->second.front());
        it->second.pop_front();
      } else {
        job = std::move(item.job);
      }
      --queued_;
      ++running_;
      lock.unlock();
      const Step step = run_guarded(job);
      lock.lock();
      --running_;
      if (step == Step::put_back) {
        // Back to the front, ahead of later jobs of its key.
        ++queued_;
        if (item.keyed) {
          keys_[item.key].push_front(std::move(job));
          ready_.push_front(Item{true, item.key, {}});
        } else {
          ready_.push_front(Item{false, {}, std::move(job)});
        }
      } else if (item.keyed) {
        auto it = keys_.find(item.key);
        if (it != keys_.end()) {
          if (it->second.empty())
            keys_.erase(it);
          else
            ready_.push_back(Item{true, item.key, {}});  // next of this key, behind other work
        }
      }
      if (running_ == 0) idle_cv_.notify_all();
      if (!ready_.empty()) ready_cv_.notify_one();
    }
  }

  const Options options_;
  const Run run_;
  mutable std::mutex mutex_;
  std::condition_variable ready_cv_;  // workers wait for jobs
  std::condition_variable idle_cv_;   // quiesce and stop wait for running == 0
  std::deque<Item> ready_;
  std::unordered_map<std::string, std::deque<Job>> keys_;  // present while the key is queued or running
  std::size_t queued_ = 0;
  int running_ = 0;
  int budget_ = 1;
  bool paused_ = false;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace herald::ext
