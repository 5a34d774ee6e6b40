#include "topic_creator.hpp"

#include <pthread.h>

namespace herald::kafka {

TopicCreator::TopicCreator(Admin admin, std::function<void()> created)
    : admin_(std::move(admin)), created_(std::move(created)) {}

TopicCreator::~TopicCreator() { stop(); }

void TopicCreator::start_locked() {
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void TopicCreator::when_ready(std::string topic, Then then) {
  {
    std::lock_guard lock(mutex_);
    if (!stopped_) {
      start_locked();
      jobs_.push_back({std::move(topic), std::move(then)});
      ready_.notify_one();
      return;
    }
  }
  then(closing);
}

void TopicCreator::announce() {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  start_locked();
  jobs_.push_back({});
  ready_.notify_one();
}

void TopicCreator::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  ready_.notify_all();
  // The last owner may let go of the bus on this very thread (a job's
  // callback): it cannot join itself, and finishes by itself.
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
    else thread_.join();
  }
  std::deque<Job> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(jobs_);
  }
  for (auto& job : left)
    if (job.then) job.then(closing);
}

void TopicCreator::loop() {
  pthread_setname_np(pthread_self(), "herald-topics");
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopped_ || !jobs_.empty(); });
      if (stopped_) return;  // stop() answers what is left
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    // Nothing may escape this thread: a failing job only fails its write.
    try {
      if (job.topic.empty()) {
        created_();
        continue;
      }
      std::string error;
      bool made = false;
      try {
        made = !admin_.ensure({job.topic}).empty();
      } catch (const std::exception& ex) {
        error = ex.what();
      }
      job.then(error);
      if (made) created_();
    } catch (...) {
      // A callback that throws loses only its own job.
    }
  }
}

}  // namespace herald::kafka
