#pragma once
// The memory bus's engine: an in-process broker. It routes each published
// event to the consumer groups whose members match (route_table.hpp),
// admits it under the queue limit (admission.hpp), and runs its handlers
// on a shared worker pool: per group at most the members' summed
// concurrency at once, one event of a partition key at a time
// (group_executor.cpp). What a handler's outcome means — ack, retry after
// the scheduler's delay, dead-letter — core decides (handling.cpp).
//
// Threads: publish runs on the caller (inline dispatch runs the handlers
// there too); handlers run on the pool's `workers` threads; retries resume
// from the scheduler's thread by posting back to the pool. Thread-safe.
// Private to herald::memory.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "admission.hpp"
#include "event_pool.hpp"
#include "group.hpp"
#include "herald/dead_letter.hpp"
#include "herald/memory/options.hpp"
#include "herald/metrics.hpp"
#include "herald/scheduler.hpp"
#include "route_table.hpp"

namespace herald::memory {

class InProcessBroker : public std::enable_shared_from_this<InProcessBroker> {
 public:
  InProcessBroker(MemoryOptions options, std::shared_ptr<Scheduler> scheduler, std::shared_ptr<Metrics> metrics);

  // Subscriptions.
  MemberPtr add(const SubscribeSpec& spec, Invoker invoke) { return routes_.add(spec, std::move(invoke)); }
  /// Waits for the member's running handlers, except one on this thread.
  void remove(const MemberPtr& member);

  // Publishing (caller's thread). Throw ClosedError, PublishError (queue full).
  void publish(std::vector<Envelope>& events);
  void publish_one(Envelope& event);
  /// Inline and unkeyed: handled right here without copying the event unless
  /// a retry has to keep it.
  void publish_ref(const Envelope& event);
  /// Delivers dead letters to `group` again. Throws NotFoundError.
  void replay(const std::string& group, std::vector<DeadLetter> letters);

  bool flush(std::chrono::milliseconds timeout) { return admission_.flush(timeout); }
  /// Lets queued handlers finish, dead-letters waiting retries (reason closed).
  void close();

  DeadLetterStore& dead_letters() { return dead_letters_; }
  /// What `group` has not finished yet, and its dead letters.
  GroupBacklog backlog(const std::string& group);

 private:
  // Group executor (group_executor.cpp).
  void submit(Task t);
  void dispatch(Group& group, Work w);
  void post_work(Group& group, Work w);
  void work(Group& group, Work first);
  void execute(Group& group, Work& w);

  // Handling (handling.cpp).
  enum class Outcome { done, retry };
  /// Runs one attempt. On failure decides between a retry (returned, with
  /// `delay` set) and the dead-letter store.
  Outcome attempt(Task& t, std::chrono::milliseconds& delay);
  void run_unkeyed(Task t);
  void run_key(Group& group, const std::string& key);
  /// Waits `delay` on the scheduler, then runs `resume`; if the bus closes
  /// first, `abandon` dead-letters what was waiting.
  void wait_then(std::chrono::milliseconds delay, std::function<void()> resume, std::function<void()> abandon);
  void finish_dead(Task& t, DeadLetterReason reason);
  /// Handled or dead-lettered: out of the group's and the bus's counts. A
  /// counted task is admitted too (Task::counted): both go down together,
  /// once. Here, not in handling.cpp, so that the hot path inlines it.
  void count_out(Task& t) {
    if (!t.counted) return;
    t.group->unfinished.fetch_sub(1, std::memory_order_relaxed);
    admission_.release(1);
  }
  /// A task that waited for a retry when the bus closed.
  void abandon(Task& t);
  void abandon_key(Group& group, const std::string& key);
  ConsumerCounters& counters(const Task& t) { return metrics_->consumer(t.event->type, t.group->name); }

  MemoryOptions options_;
  std::shared_ptr<Scheduler> scheduler_;
  std::shared_ptr<Metrics> metrics_;
  RouteTable routes_;
  Admission admission_;

  std::mutex waiting_mutex_;
  std::unordered_map<std::uint64_t, std::function<void()>> waiting_;  // retries waiting, by id: their abandon
  std::uint64_t waiting_ids_ = 0;

  std::atomic<bool> closed_{false};
  DeadLetterStore dead_letters_;
  EventPool& events_ = EventPool::shared();
  boost::asio::thread_pool pool_;
};

}  // namespace herald::memory
