// The group executor: where the in-process broker runs a group's work on
// the shared worker pool. Per group at most `limit` pieces of work run at
// once (the members' summed concurrency), so a slow group cannot take every
// worker; an event with a partition key joins its key's queue, and the key
// runs as one piece of work, so its events are handled one at a time, in
// order.
//
// Not core's KeyedExecutor: that one gives each subscription threads of its
// own, this one shares the bus's `workers` between all groups, runs inline
// when dispatch=inline, keeps a key's head in place while its retry waits on
// the scheduler, and hands work over without waking a sleeping thread per
// event (the spin below) — the memory bus's throughput comes from there.

#include <chrono>
#include <thread>

#include <boost/asio/post.hpp>

#include "in_process_broker.hpp"

namespace herald::memory {

void InProcessBroker::submit(Task t) {
  const std::string& key = t.event->partitionkey;
  Group& group = *t.group;
  group.unfinished.fetch_add(1, std::memory_order_relaxed);
  if (key.empty()) {
    dispatch(group, Work{std::move(t), {}, false});
    return;
  }
  bool start = false;
  std::string k = key;
  {
    std::lock_guard lock(group.keys_mutex);
    auto& q = group.keys[k];
    start = q.empty();
    q.push_back(std::move(t));
  }
  if (start) dispatch(group, Work{{}, std::move(k), true});
}

void InProcessBroker::execute(Group& group, Work& w) {
  if (w.keyed) run_key(group, w.key);
  else run_unkeyed(std::move(w.task));
}

void InProcessBroker::dispatch(Group& group, Work w) {
  if (options_.inline_dispatch) {
    execute(group, w);
    return;
  }
  {
    std::lock_guard lock(group.work_mutex);
    if (group.running >= group.limit.load()) {
      group.backlog.push_back(std::move(w));
      group.backlog_size.fetch_add(1, std::memory_order_release);
      return;
    }
    ++group.running;
  }
  post_work(group, std::move(w));
}

void InProcessBroker::post_work(Group& group, Work w) {
  auto holder = std::make_shared<Work>(std::move(w));
  // The broker (self) keeps the group.
  boost::asio::post(pool_, [self = shared_from_this(), group = &group, holder] { self->work(*group, std::move(*holder)); });
}

// Runs `first`, then the group's backlog on this same worker, keeping the
// group's slot meanwhile. When the backlog runs dry it spins briefly before
// giving the slot back: waking a sleeping worker for every event would cost
// more than the handler. After a budget it re-posts itself so other groups
// get their turn.
void InProcessBroker::work(Group& group, Work first) {
  std::deque<Work> local;
  local.push_back(std::move(first));
  std::size_t done = 0;
  while (true) {
    while (!local.empty()) {
      execute(group, local.front());
      local.pop_front();
      ++done;
    }
    if (done >= 4096) break;
    // One spinner per group: several would only take the CPU from the
    // publisher they are waiting for.
    if (!group.spinning.exchange(true, std::memory_order_acq_rel)) {
      auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
      for (unsigned i = 1; group.backlog_size.load(std::memory_order_acquire) == 0 && !closed_.load(std::memory_order_relaxed); ++i) {
        if (i % 16 != 0) continue;
        if (std::chrono::steady_clock::now() >= spin_until) break;  // the clock is not free either
        std::this_thread::yield();  // a publisher sharing this core gets to run
      }
      group.spinning.store(false, std::memory_order_release);
    }
    std::lock_guard lock(group.work_mutex);
    // Over the limit (a member left): give the slot back; others carry on.
    if (group.backlog.empty() || group.running > group.limit.load()) {
      --group.running;
      return;
    }
    local.swap(group.backlog);
    group.backlog_size.store(0, std::memory_order_release);
  }
  std::lock_guard lock(group.work_mutex);
  if (group.backlog.empty()) {
    --group.running;
    return;
  }
  Work next = std::move(group.backlog.front());
  group.backlog.pop_front();
  group.backlog_size.fetch_sub(1, std::memory_order_release);
  post_work(group, std::move(next));
}

}  // namespace herald::memory
