#include "memory_bus.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "herald/errors.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/options.hpp"
#include "herald/ext/transport.hpp"
#include "herald/pattern.hpp"
#include "event_pool.hpp"

namespace herald::memory {

MemoryOptions read_options(const BusConfig& config) {
  OptionReader r(config, "memory");
  MemoryOptions o;
  o.workers = static_cast<int>(r.integer("workers", o.workers, 1, 1024));
  o.inline_dispatch = r.choice("dispatch", "async", {"async", "inline"}) == "inline";
  o.queue_limit = static_cast<std::size_t>(r.integer("queue_limit", static_cast<long long>(o.queue_limit), 1, 1LL << 40));
  o.publish_timeout = r.duration("publish_timeout", o.publish_timeout);
  r.finish();
  return o;
}

namespace {

using EventPtr = std::shared_ptr<const Envelope>;

struct Member {
  std::uint64_t id;
  std::string pattern;
  Invoker invoke;
  RetryPolicy retry;
  int concurrency = 1;
  std::atomic<bool> active{true};
  std::atomic<int> running{0};
  std::atomic<bool> cancelling{false};
  std::mutex mutex;  // only for waiting until running drops to 0
  std::condition_variable idle;
};
using MemberPtr = std::shared_ptr<Member>;

struct Group;

// Where one event goes inside one group. `event` points into `owner`, or,
// for an inline delivery that never waits, at the publisher's own envelope.
struct Task {
  const Envelope* event = nullptr;
  EventPtr owner;
  std::shared_ptr<Group> group;
  std::shared_ptr<const std::vector<MemberPtr>> members;  // members whose pattern matched
  DeliveryState state;
};

// A unit of a group's work: handle one unkeyed event, or run the queue of
// one partition key.
struct Work {
  Task task;
  std::string key;
  bool keyed = false;
};

// Events with the same partitionkey wait in one queue per group; the head
// runs (or waits for its retry) while the rest queue behind it.
struct Group {
  std::string name;
  std::atomic<std::uint64_t> next{0};
  // Work of this group running on the pool at most `limit` at once (the sum
  // of its members' concurrency), so a slow group cannot take every worker.
  std::atomic<int> limit{1};
  std::mutex work_mutex;
  int running = 0;
  std::deque<Work> backlog;
  std::atomic<std::size_t> backlog_size{0};
  std::atomic<bool> spinning{false};
  std::mutex keys_mutex;
  std::unordered_map<std::string, std::deque<Task>> keys;
};

struct Route {
  std::shared_ptr<Group> group;
  std::shared_ptr<const std::vector<MemberPtr>> members;
};
using Routes = std::shared_ptr<const std::vector<Route>>;

thread_local const Member* running_member = nullptr;

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(MemoryOptions options, std::shared_ptr<Scheduler> scheduler, std::shared_ptr<Metrics> metrics)
      : options_(options),
        scheduler_(std::move(scheduler)),
        metrics_(std::move(metrics)),
        pool_(static_cast<std::size_t>(options.workers)) {}

  // --- subscriptions -------------------------------------------------------

  MemberPtr add(const SubscribeSpec& spec, Invoker invoke) {
    auto m = std::make_shared<Member>();
    m->pattern = spec.pattern;
    m->invoke = std::move(invoke);
    m->retry = spec.retry;
    std::unique_lock lock(subs_mutex_);
    m->id = ++member_ids_;
    auto& g = groups_[spec.group];
    if (!g.group) {
      g.group = std::make_shared<Group>();
      g.group->name = spec.group;
    }
    g.members.push_back(m);
    g.concurrency += spec.concurrency;
    m->concurrency = spec.concurrency;
    g.group->limit = g.concurrency;
    trie_.add(spec.pattern, static_cast<int>(m->id));
    members_[m->id] = {m, spec.group};
    routes_.clear();
    generation_.fetch_add(1);
    return m;
  }

  void remove(const MemberPtr& m) {
    {
      std::unique_lock lock(subs_mutex_);
      auto it = members_.find(m->id);
      if (it == members_.end()) return;
      auto& g = groups_[it->second.second];
      std::erase(g.members, m);
      g.concurrency -= m->concurrency;
      g.group->limit = std::max(1, g.concurrency);
      trie_.remove(m->pattern, static_cast<int>(m->id));
      members_.erase(it);
      routes_.clear();
      generation_.fetch_add(1);
    }
    m->active = false;
    if (running_member == m.get()) return;  // cancelled from its own handler
    std::unique_lock lock(m->mutex);
    m->cancelling = true;
    m->idle.wait(lock, [&] { return m->running.load() == 0; });
  }

  // --- publishing ------------------------------------------------------------

  void publish(std::vector<Envelope>& events) {
    for (auto& e : events) publish_one(e);
  }

  void publish_one(Envelope& event) {
    if (closed_.load(std::memory_order_acquire)) throw ClosedError("memory: bus is closed");
    const Routes& routes = routes_for(event.type);
    if (routes->empty()) return;
    reserve(routes->size());
    auto ptr = events_->copy(event, true);
    for (const auto& r : *routes) submit(Task{ptr.get(), ptr, r.group, r.members, 0, {}, {}});
  }

  // Inline and unkeyed: handled right here without copying the event unless
  // a retry has to keep it.
  void publish_ref(const Envelope& event) {
    if (closed_.load(std::memory_order_acquire)) throw ClosedError("memory: bus is closed");
    const Routes& routes = routes_for(event.type);
    if (routes->empty()) return;
    reserve(routes->size());
    if (!options_.inline_dispatch || !event.partitionkey.empty()) {
      auto ptr = events_->copy(const_cast<Envelope&>(event), false);  // the one copy an asynchronous delivery needs
      for (const auto& r : *routes) submit(Task{ptr.get(), ptr, r.group, r.members, 0, {}, {}});
      return;
    }
    for (const auto& r : *routes) run_unkeyed(Task{&event, nullptr, r.group, r.members, 0, {}, {}});
  }

  void replay(const std::string& group_name, std::vector<DeadLetter> letters) {
    std::shared_ptr<Group> group;
    std::vector<std::pair<EventPtr, std::shared_ptr<const std::vector<MemberPtr>>>> tasks;
    {
      std::shared_lock lock(subs_mutex_);
      auto it = groups_.find(group_name);
      if (it != groups_.end()) group = it->second.group;
      for (auto& l : letters) {
        auto members = std::make_shared<std::vector<MemberPtr>>();
        if (it != groups_.end())
          for (const auto& m : it->second.members)
            if (matches(m->pattern, l.event.type)) members->push_back(m);
        tasks.emplace_back(std::make_shared<const Envelope>(std::move(l.event)), std::move(members));
      }
    }
    if (!group) throw NotFoundError("memory: no subscriber in group '" + group_name + "' to replay to");
    reserve(tasks.size());
    for (auto& [event, members] : tasks) submit(Task{event.get(), event, group, members, 0, {}, {}});
  }

  // --- flush / close -------------------------------------------------------

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(pending_mutex_);
    ++waiters_;
    bool ok = pending_cv_.wait_for(lock, timeout, [&] { return pending_ == 0; });
    --waiters_;
    return ok;
  }

  void close() {
    if (closed_.exchange(true)) return;
    // Handlers already queued on the pool finish; waiting retries are
    // dead-lettered by the timer callback seeing closed_, or now if the
    // scheduler never fires again.
    pool_.join();
    std::unordered_map<std::uint64_t, std::function<void()>> stranded;
    {
      std::lock_guard lock(waiting_mutex_);
      stranded.swap(waiting_);
    }
    for (auto& [_, abandon] : stranded) abandon();
  }

  DeadLetterStore& dead_letters() { return dead_letters_; }
  const MemoryOptions& options() const { return options_; }

 private:
  Routes routes_for(const std::string& type) {
    // Publishing threads usually send the same type again and again: a
    // per-thread copy of the last routes, valid while no subscription changed,
    // saves the shared lock and the hash on the hot path.
    struct Cached {
      std::uint64_t core = 0, generation = 0;
      std::string type;
      Routes routes;
    };
    thread_local Cached cached;
    std::uint64_t generation = generation_.load();
    if (cached.core == id_ && cached.generation == generation && cached.type == type) return cached.routes;
    Routes routes = lookup_routes(type);
    cached.core = id_;
    cached.generation = generation;
    cached.type = type;
    cached.routes = routes;
    return routes;
  }

  Routes lookup_routes(const std::string& type) {
    {
      std::shared_lock lock(subs_mutex_);
      auto it = routes_.find(type);
      if (it != routes_.end()) return it->second;
    }
    std::unique_lock lock(subs_mutex_);
    std::vector<int> ids;
    trie_.match(type, ids);
    std::map<std::string, std::vector<MemberPtr>> by_group;
    for (int id : ids) {
      auto it = members_.find(static_cast<std::uint64_t>(id));
      if (it != members_.end()) by_group[it->second.second].push_back(it->second.first);
    }
    auto routes = std::make_shared<std::vector<Route>>();
    for (auto& [name, members] : by_group)
      routes->push_back({groups_[name].group, std::make_shared<const std::vector<MemberPtr>>(std::move(members))});
    if (routes_.size() > 10'000) routes_.clear();  // bound the cache against endless distinct types
    routes_[type] = routes;
    return routes;
  }

  void reserve(std::size_t n) {
    std::size_t now = pending_.fetch_add(n, std::memory_order_acq_rel) + n;
    if (now <= options_.queue_limit || options_.inline_dispatch) return;
    // Back-pressure: wait for room, then give the slots back and fail.
    std::unique_lock lock(pending_mutex_);
    ++waiters_;
    bool ok = pending_cv_.wait_for(lock, options_.publish_timeout,
                                   [&] { return pending_.load() - n <= low_water_; });
    --waiters_;
    if (!ok) {
      lock.unlock();
      release(n);
      throw PublishError("memory: queue full (" + std::to_string(options_.queue_limit) +
                         " events waiting) and no room within " + std::to_string(options_.publish_timeout.count()) +
                         " ms; raise queue_limit or add workers");
    }
  }

  void release(std::size_t n) {
    std::size_t left = pending_.fetch_sub(n) - n;  // seq_cst: pairs with the waiter's increment
    // Waiters register under the mutex before they check, so a waiter that
    // is not counted yet will see the new value itself. Publishers waiting
    // for room are woken at three quarters of the limit, not at every event,
    // so a full queue does not turn into a wake-up per handled event.
    bool crossed = left <= low_water_ && left + n > low_water_;
    if ((left == 0 || crossed || (left <= low_water_ && left % 64 == 0)) && waiters_.load() > 0) {
      std::lock_guard lock(pending_mutex_);
      pending_cv_.notify_all();
    }
  }

  void submit(Task t) {
    const std::string& key = t.event->partitionkey;
    auto group = t.group;
    if (key.empty()) {
      dispatch(group, Work{std::move(t), {}, false});
      return;
    }
    bool start = false;
    std::string k = key;
    {
      std::lock_guard lock(group->keys_mutex);
      auto& q = group->keys[k];
      start = q.empty();
      q.push_back(std::move(t));
    }
    if (start) dispatch(group, Work{{}, std::move(k), true});
  }

  void execute(const std::shared_ptr<Group>& group, Work& w) {
    if (w.keyed) run_key(group, w.key);
    else run_unkeyed(std::move(w.task));
  }

  void dispatch(const std::shared_ptr<Group>& group, Work w) {
    if (options_.inline_dispatch) {
      execute(group, w);
      return;
    }
    {
      std::lock_guard lock(group->work_mutex);
      if (group->running >= group->limit.load()) {
        group->backlog.push_back(std::move(w));
        group->backlog_size.fetch_add(1, std::memory_order_release);
        return;
      }
      ++group->running;
    }
    post_work(group, std::move(w));
  }

  void post_work(const std::shared_ptr<Group>& group, Work w) {
    auto holder = std::make_shared<Work>(std::move(w));
    boost::asio::post(pool_, [self = shared_from_this(), group, holder] { self->work(group, std::move(*holder)); });
  }

  // Runs `first`, then the group's backlog on this same worker, keeping the
  // group's slot meanwhile. When the backlog runs dry it spins briefly before
  // giving the slot back: waking a sleeping worker for every event would cost
  // more than the handler. After a budget it re-posts itself so other groups
  // get their turn.
  void work(const std::shared_ptr<Group>& group, Work first) {
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
      if (!group->spinning.exchange(true, std::memory_order_acq_rel)) {
        auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
        for (unsigned i = 1; group->backlog_size.load(std::memory_order_acquire) == 0 && !closed_.load(std::memory_order_relaxed); ++i) {
          if (i % 16 != 0) continue;
          if (std::chrono::steady_clock::now() >= spin_until) break;  // the clock is not free either
          std::this_thread::yield();  // a publisher sharing this core gets to run
        }
        group->spinning.store(false, std::memory_order_release);
      }
      std::lock_guard lock(group->work_mutex);
      // Over the limit (a member left): give the slot back; others carry on.
      if (group->backlog.empty() || group->running > group->limit.load()) {
        --group->running;
        return;
      }
      local.swap(group->backlog);
      group->backlog_size.store(0, std::memory_order_release);
    }
    std::lock_guard lock(group->work_mutex);
    if (group->backlog.empty()) {
      --group->running;
      return;
    }
    Work next = std::move(group->backlog.front());
    group->backlog.pop_front();
    group->backlog_size.fetch_sub(1, std::memory_order_release);
    post_work(group, std::move(next));
  }

  enum class Outcome { done, retry };

  // Runs one attempt. On failure decides between a retry (returned, with
  // t.delay set) and the dead-letter store.
  Outcome attempt(Task& t, std::chrono::milliseconds& delay) {
    const auto& members = *t.members;
    MemberPtr m;
    for (std::size_t i = 0; i < members.size() && !m; ++i) {
      const auto& c = members[(t.group->next.fetch_add(1, std::memory_order_relaxed) + i) % members.size()];
      if (c->active.load(std::memory_order_acquire)) m = c;
    }
    if (!m) {
      refuse(DeadLetterReason::no_subscriber, t.state, counters(t),
             "no active subscription of group '" + t.group->name + "' accepts type '" + t.event->type + "'");
      finish_dead(t, DeadLetterReason::no_subscriber);
      return Outcome::done;
    }
    m->running.fetch_add(1, std::memory_order_acq_rel);
    const Member* previous = running_member;
    running_member = m.get();
    Attempt result = m->invoke(*t.event);
    running_member = previous;
    if (m->running.fetch_sub(1, std::memory_order_acq_rel) == 1 && m->cancelling.load()) {
      std::lock_guard lock(m->mutex);
      m->idle.notify_all();
    }
    if (result.ok) {  // the hot path: no counters to look up
      release(1);
      return Outcome::done;
    }
    Verdict v = decide(m->retry, t.state, result, counters(t), closed_.load());
    if (v.kind == Verdict::Kind::dead_letter) {
      finish_dead(t, v.reason);
      return Outcome::done;
    }
    delay = v.delay;
    return Outcome::retry;
  }

  ConsumerCounters& counters(const Task& t) { return metrics_->consumer(t.event->type, t.group->name); }

  // Waits `delay` on the scheduler, then runs `resume`; if the bus closes
  // first, `abandon` dead-letters what was waiting.
  void wait_then(std::chrono::milliseconds delay, std::function<void()> resume, std::function<void()> abandon) {
    std::uint64_t id;
    {
      std::lock_guard lock(waiting_mutex_);
      id = ++waiting_ids_;
      waiting_[id] = std::move(abandon);
    }
    std::weak_ptr<Core> weak = weak_from_this();
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

  void finish_dead(Task& t, DeadLetterReason reason) {
    dead_letters_.add(dead_letter_for(*t.event, t.group->name, t.state, reason));
    release(1);
  }

  // A task that waited for a retry when the bus closed.
  void abandon(Task& t) {
    refuse(DeadLetterReason::closed, t.state, counters(t));
    finish_dead(t, DeadLetterReason::closed);
  }

  void run_unkeyed(Task t) {
    std::chrono::milliseconds delay{};
    if (attempt(t, delay) == Outcome::done) return;
    if (!t.owner) {  // the publisher's envelope: keep a copy for the retry
      t.owner = std::make_shared<const Envelope>(*t.event);
      t.event = t.owner.get();
    }
    auto holder = std::make_shared<Task>(std::move(t));
    auto self = shared_from_this();
    wait_then(
        delay,
        [self, holder] {
          auto group = holder->group;  // the Work below takes the task
          self->dispatch(group, Work{std::move(*holder), {}, false});
        },
        [self, holder] { self->abandon(*holder); });
  }

  void run_key(const std::shared_ptr<Group>& group, const std::string& key) {
    // Bounded batch so one busy key cannot hog a worker thread.
    for (int batch = 0; batch < 64; ++batch) {
      Task* head;
      {
        std::lock_guard lock(group->keys_mutex);
        head = &group->keys[key].front();  // deque references survive push_back
      }
      std::chrono::milliseconds delay{};
      if (attempt(*head, delay) == Outcome::retry) {
        auto self = shared_from_this();
        wait_then(
            delay, [self, group, key] { self->dispatch(group, Work{{}, key, true}); },
            [self, group, key] { self->abandon_key(group, key); });
        return;
      }
      std::lock_guard lock(group->keys_mutex);
      auto it = group->keys.find(key);
      it->second.pop_front();
      if (it->second.empty()) {
        group->keys.erase(it);
        return;
      }
    }
    dispatch(group, Work{{}, key, true});
  }

  void abandon_key(const std::shared_ptr<Group>& group, const std::string& key) {
    std::deque<Task> tasks;
    {
      std::lock_guard lock(group->keys_mutex);
      auto it = group->keys.find(key);
      if (it == group->keys.end()) return;
      tasks = std::move(it->second);
      group->keys.erase(it);
    }
    for (auto& t : tasks) abandon(t);
  }

  static inline std::atomic<std::uint64_t> next_id_{1};
  const std::uint64_t id_ = next_id_.fetch_add(1);
  std::atomic<std::uint64_t> generation_{0};
  MemoryOptions options_;
  std::shared_ptr<Scheduler> scheduler_;
  std::shared_ptr<Metrics> metrics_;

  std::shared_mutex subs_mutex_;
  struct GroupEntry {
    std::shared_ptr<Group> group;
    std::vector<MemberPtr> members;
    int concurrency = 0;
  };
  std::map<std::string, GroupEntry> groups_;
  std::unordered_map<std::uint64_t, std::pair<MemberPtr, std::string>> members_;
  std::uint64_t member_ids_ = 0;
  PatternTrie trie_;
  std::unordered_map<std::string, Routes> routes_;

  std::atomic<std::size_t> pending_{0};
  std::atomic<int> waiters_{0};
  // Publishers that found the queue full resume once it is down to this.
  const std::size_t low_water_ = options_.queue_limit - std::max<std::size_t>(1, options_.queue_limit / 4);
  std::mutex pending_mutex_;
  std::condition_variable pending_cv_;

  std::mutex waiting_mutex_;
  std::unordered_map<std::uint64_t, std::function<void()>> waiting_;
  std::uint64_t waiting_ids_ = 0;

  std::atomic<bool> closed_{false};
  DeadLetterStore dead_letters_;
  std::shared_ptr<EventPool> events_ = std::make_shared<EventPool>();
  boost::asio::thread_pool pool_;
};

class MemoryBus final : public ext::Transport {
 public:
  MemoryBus(const BusConfig& config, const MemoryOptions& options)
      : Transport(config.metrics, config.decode, config.source),
        scheduler_(config.scheduler ? config.scheduler : make_system_scheduler()),
        core_(std::make_shared<Core>(options, scheduler_, shared_metrics())) {}
  ~MemoryBus() override { close(); }

  bool flush(std::chrono::milliseconds timeout) override { return core_->flush(timeout); }
  void close() override { core_->close(); }

  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit) override {
    return core_->dead_letters().list(group, limit);
  }
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id) override {
    auto letters = core_->dead_letters().take(group, id);
    std::size_t n = letters.size();
    if (n) core_->replay(group, std::move(letters));
    return n;
  }
  std::size_t purge_dead_letters(const std::string& group) override {
    return core_->dead_letters().take(group).size();
  }
  Features features() const override {
    Features f;
    f.name = "memory";
    f.simulated_time = true;
    return f;
  }

 protected:
  void do_publish(ext::Outgoing events) override {
    // The caller's own event goes by reference: inline dispatch hands it to
    // the handlers without a copy.
    if (!events.owned()) return core_->publish_ref(events[0]);
    for (std::size_t i = 0; i < events.size(); ++i) core_->publish_one(events.own(i));
  }
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override {
    MemberPtr m = core_->add(spec, std::move(invoke));
    std::weak_ptr<Core> weak = core_;
    return Subscription([weak, m] {
      if (auto core = weak.lock()) core->remove(m);
    });
  }

 private:
  std::shared_ptr<Metrics> shared_metrics() {
    // Aliasing pointer: the bus owns the metrics and outlives the core's use.
    return std::shared_ptr<Metrics>(std::shared_ptr<Metrics>{}, &metrics());
  }
  std::shared_ptr<Scheduler> scheduler_;
  std::shared_ptr<Core> core_;
};

}  // namespace

std::unique_ptr<EventBus> make_memory_bus(const BusConfig& config, const MemoryOptions& options) {
  return std::make_unique<MemoryBus>(config, options);
}

}  // namespace herald::memory
