#include "herald/idempotency.hpp"

#include <deque>
#include <mutex>
#include <unordered_map>

#include "herald/context.hpp"
#include "herald/errors.hpp"

namespace herald {

struct MemoryIdempotencyStore::Impl {
  struct Mark {
    bool done = false;
    Scheduler::TimePoint expires{};
  };
  std::size_t capacity;
  std::chrono::milliseconds ttl;
  std::shared_ptr<Scheduler> clock;
  mutable std::mutex mutex;
  std::unordered_map<std::string, Mark> marks;
  std::deque<std::pair<Scheduler::TimePoint, std::string>> order;  // completion order, for TTL and capacity

  Scheduler::TimePoint now() const { return clock ? clock->now() : std::chrono::steady_clock::now(); }

  void expire(Scheduler::TimePoint t) {
    while (!order.empty() && (order.front().first <= t || marks.size() > capacity)) {
      auto it = marks.find(order.front().second);
      // A key may have been released and claimed again; only drop what expired.
      if (it != marks.end() && it->second.done && it->second.expires <= order.front().first + ttl &&
          (it->second.expires <= t || marks.size() > capacity))
        marks.erase(it);
      order.pop_front();
    }
  }
};

static std::string key_of(const std::string& group, const std::string& id) { return group + '\x1f' + id; }

MemoryIdempotencyStore::MemoryIdempotencyStore(std::size_t capacity, std::chrono::milliseconds ttl,
                                               std::shared_ptr<Scheduler> clock)
    : impl_(std::make_unique<Impl>()) {
  if (capacity == 0) throw ConfigError("idempotency: capacity must be at least 1");
  impl_->capacity = capacity;
  impl_->ttl = ttl;
  impl_->clock = std::move(clock);
}

MemoryIdempotencyStore::~MemoryIdempotencyStore() = default;

IdempotencyClaim MemoryIdempotencyStore::claim(const std::string& group, const std::string& event_id) {
  std::lock_guard lock(impl_->mutex);
  auto now = impl_->now();
  impl_->expire(now);
  auto [it, inserted] = impl_->marks.try_emplace(key_of(group, event_id));
  if (inserted) return IdempotencyClaim::acquired;
  if (it->second.done) {
    if (it->second.expires > now) return IdempotencyClaim::done;
    it->second = {};
    return IdempotencyClaim::acquired;
  }
  return IdempotencyClaim::busy;
}

void MemoryIdempotencyStore::complete(const std::string& group, const std::string& event_id) {
  std::lock_guard lock(impl_->mutex);
  auto now = impl_->now();
  auto key = key_of(group, event_id);
  auto& mark = impl_->marks[key];
  mark.done = true;
  mark.expires = now + impl_->ttl;
  impl_->order.emplace_back(now + impl_->ttl, std::move(key));
  impl_->expire(now);
}

void MemoryIdempotencyStore::release(const std::string& group, const std::string& event_id) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->marks.find(key_of(group, event_id));
  if (it != impl_->marks.end() && !it->second.done) impl_->marks.erase(it);
}

std::size_t MemoryIdempotencyStore::size() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->marks.size();
}

Handler idempotent(std::shared_ptr<IdempotencyStore> store, std::string group, Handler handler,
                   IdempotentOptions options) {
  if (!store) throw ConfigError("idempotent: store is null");
  return [store = std::move(store), given = std::move(group), handler = std::move(handler),
          options = std::move(options)](const Envelope& event) {
    std::string resolved;
    const std::string& group = given.empty() ? (resolved = group_or_current(given, "idempotent")) : given;
    switch (store->claim(group, event.id)) {
      case IdempotencyClaim::done:
        if (options.on_duplicate) options.on_duplicate(event);
        return;
      case IdempotencyClaim::busy:
        throw Error(ErrorCode::handler, "event " + event.id + " is being handled by another worker; retry later", true);
      case IdempotencyClaim::acquired: break;
    }
    try {
      handler(event);
    } catch (...) {
      store->release(group, event.id);
      throw;
    }
    store->complete(group, event.id);
  };
}

Handler idempotent(std::shared_ptr<IdempotencyStore> store, Handler handler, IdempotentOptions options) {
  return idempotent(std::move(store), std::string(), std::move(handler), std::move(options));
}

}  // namespace herald
