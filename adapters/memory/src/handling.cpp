// What becomes of each delivery on the memory bus: a member of the group
// runs it, core decides (ack, retry after a delay, dead-letter), and this
// carries the verdict out — a retry waits on the scheduler with its key held.

#include "in_process_broker.hpp"

namespace herald::memory {

InProcessBroker::Outcome InProcessBroker::attempt(Task& t, std::chrono::milliseconds& delay) {
  const auto& members = *t.members;
  // The task's members list keeps every member alive: no count per delivery.
  Member* m = nullptr;
  ext::HandlerGate::Pass pass;
  // One member (the usual case) needs no turn-taking.
  const std::size_t first = members.size() == 1 ? 0 : t.group->next.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t i = 0; i < members.size() && !pass; ++i) {
    const auto& c = members[(first + i) % members.size()];
    pass = c->gate.enter();  // empty once its subscription is cancelled
    if (pass) m = c.get();
  }
  if (!pass) {
    refuse(DeadLetterReason::no_subscriber, t.state(), counters(t),
           "no active subscription of group '" + t.group->name + "' accepts type '" + t.event->type + "'");
    finish_dead(t, DeadLetterReason::no_subscriber);
    return Outcome::done;
  }
  Attempt result = m->invoke(*t.event);
  pass.release();
  if (result.ok) {  // the hot path: no counters to look up
    count_out(t);
    return Outcome::done;
  }
  Verdict v = decide(m->retry, t.state(), result, counters(t), closed_.load());
  if (v.kind == Verdict::Kind::dead_letter) {
    finish_dead(t, v.reason);
    return Outcome::done;
  }
  delay = v.delay;
  return Outcome::retry;
}

void InProcessBroker::wait_then(std::chrono::milliseconds delay, std::function<void()> resume,
                                std::function<void()> abandon) {
  std::uint64_t id;
  {
    std::lock_guard lock(waiting_mutex_);
    id = ++waiting_ids_;
    waiting_[id] = std::move(abandon);
  }
  std::weak_ptr<InProcessBroker> weak = weak_from_this();
  scheduler_->run_after(delay, [weak, id, resume = std::move(resume)] {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard lock(self->waiting_mutex_);
      if (!self->waiting_.erase(id)) return;  // close() took it
    }
    resume();
  });
}

void InProcessBroker::finish_dead(Task& t, DeadLetterReason reason) {
  dead_letters_.add(dead_letter_for(*t.event, t.group->name, t.state(), reason));
  count_out(t);
}

void InProcessBroker::abandon(Task& t) {
  refuse(DeadLetterReason::closed, t.state(), counters(t));
  finish_dead(t, DeadLetterReason::closed);
}

void InProcessBroker::run_unkeyed(Task t) {
  std::chrono::milliseconds delay{};
  if (attempt(t, delay) == Outcome::done) return;
  if (!t.owner) {  // the publisher's envelope: keep a copy for the retry
    t.owner = std::make_shared<const Envelope>(*t.event);
    t.event = t.owner.get();
  }
  if (!t.counted) {  // an inline delivery now waits: it shows in the backlog, and flush() waits for it
    admission_.reserve(1);
    t.group->unfinished.fetch_add(1, std::memory_order_relaxed);
    t.counted = true;
  }
  auto holder = std::make_shared<Task>(std::move(t));
  auto self = shared_from_this();
  holder->group->waiting.fetch_add(1, std::memory_order_relaxed);
  wait_then(
      delay,
      [self, holder] {
        Group& group = *holder->group;  // the Work below takes the task
        group.waiting.fetch_sub(1, std::memory_order_relaxed);
        self->dispatch(group, Work{std::move(*holder), {}, false});
      },
      [self, holder] {
        holder->group->waiting.fetch_sub(1, std::memory_order_relaxed);
        self->abandon(*holder);
      });
}

void InProcessBroker::run_key(Group& group, const std::string& key) {
  // Bounded batch so one busy key cannot hog a worker thread.
  for (int batch = 0; batch < 64; ++batch) {
    Task* head;
    {
      std::lock_guard lock(group.keys_mutex);
      head = &group.keys[key].front();  // deque references survive push_back
    }
    std::chrono::milliseconds delay{};
    if (attempt(*head, delay) == Outcome::retry) {
      auto self = shared_from_this();
      group.waiting.fetch_add(1, std::memory_order_relaxed);  // the head; those behind it are pending
      wait_then(
          delay,
          [self, g = &group, key] {
            g->waiting.fetch_sub(1, std::memory_order_relaxed);
            self->dispatch(*g, Work{{}, key, true});
          },
          [self, g = &group, key] {
            g->waiting.fetch_sub(1, std::memory_order_relaxed);
            self->abandon_key(*g, key);
          });
      return;
    }
    std::lock_guard lock(group.keys_mutex);
    auto it = group.keys.find(key);
    it->second.pop_front();
    if (it->second.empty()) {
      group.keys.erase(it);
      return;
    }
  }
  dispatch(group, Work{{}, key, true});
}

void InProcessBroker::abandon_key(Group& group, const std::string& key) {
  std::deque<Task> tasks;
  {
    std::lock_guard lock(group.keys_mutex);
    auto it = group.keys.find(key);
    if (it == group.keys.end()) return;
    tasks = std::move(it->second);
    group.keys.erase(it);
  }
  for (auto& t : tasks) abandon(t);
}

}  // namespace herald::memory
