#include "dispatcher.hpp"

#include <algorithm>
#include <unordered_set>

namespace herald::rabbitmq {

Dispatcher::Dispatcher(Run run, Idle idle) : run_(std::move(run)), idle_(std::move(idle)) {}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::set_limit(int limit) {
  std::lock_guard lock(mutex_);
  limit_ = std::max(1, limit);
  while (static_cast<int>(threads_.size()) < limit_ && !stopping_) threads_.emplace_back([this] { work(); });
  cv_.notify_all();
}

void Dispatcher::push(std::vector<Job>& jobs) {
  if (jobs.empty()) return;
  bool many;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    for (auto& job : jobs) enqueue(std::move(job));
    many = ready_.size() > 1 && limit_ > 1;
  }
  jobs.clear();
  // One wake-up per batch, not per job.
  if (many)
    cv_.notify_all();
  else
    cv_.notify_one();
}

void Dispatcher::enqueue(Job job) {
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

void Dispatcher::discard_queued() {
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

void Dispatcher::pause() {
  std::lock_guard lock(mutex_);
  paused_ = true;
}

void Dispatcher::quiesce() {
  std::unique_lock lock(mutex_);
  paused_ = true;
  idle_cv_.wait(lock, [&] { return running_ == 0; });
}

void Dispatcher::resume() {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  paused_ = false;
  cv_.notify_all();
}

void Dispatcher::stop() {
  std::vector<std::thread> threads;
  {
    std::unique_lock lock(mutex_);
    paused_ = true;
    stopping_ = true;
    cv_.notify_all();
    // From one of our own handlers: the threads end on their own and the
    // destructor, run later by the consumer on another thread, joins them.
    if (is_worker(std::this_thread::get_id())) return;
    idle_cv_.wait(lock, [&] { return running_ == 0; });
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

bool Dispatcher::on_worker_thread() const {
  std::lock_guard lock(mutex_);
  return is_worker(std::this_thread::get_id());
}

bool Dispatcher::is_worker(std::thread::id id) const {
  return std::any_of(threads_.begin(), threads_.end(), [&](const std::thread& t) { return t.get_id() == id; });
}

std::size_t Dispatcher::busy() const {
  std::lock_guard lock(mutex_);
  return queued_ + static_cast<std::size_t>(running_);
}

void Dispatcher::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    auto can_run = [&] { return stopping_ || (!paused_ && !ready_.empty() && running_ < limit_); };
    if (!can_run()) {
      lock.unlock();
      idle_();
      lock.lock();
      cv_.wait(lock, can_run);
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
    const bool done = run_(job);
    lock.lock();
    --running_;
    if (!done) {
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
    if (!ready_.empty()) cv_.notify_one();
  }
}

}  // namespace herald::rabbitmq
