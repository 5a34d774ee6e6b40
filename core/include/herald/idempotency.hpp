#pragma once
// Idempotent consumers: a redelivered event has no second effect.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "herald/bus.hpp"
#include "herald/scheduler.hpp"

namespace herald {

/// What IdempotencyStore::claim() found for a (group, event id).
enum class IdempotencyClaim {
  acquired,  // first time: run the handler, then complete() or release()
  done,      // handled before: skip
  busy,      // another worker handles it right now
};

/// Remembers which (group, event id) pairs were handled. Thread-safe.
class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;
  virtual IdempotencyClaim claim(const std::string& group, const std::string& event_id) = 0;
  virtual void complete(const std::string& group, const std::string& event_id) = 0;
  virtual void release(const std::string& group, const std::string& event_id) = 0;
};

/// Bounded in-memory store: marks expire after `ttl`, and the oldest go when
/// more than `capacity` are held.
class MemoryIdempotencyStore final : public IdempotencyStore {
 public:
  explicit MemoryIdempotencyStore(std::size_t capacity = 100'000,
                                  std::chrono::milliseconds ttl = std::chrono::hours(24),
                                  std::shared_ptr<Scheduler> clock = nullptr);
  ~MemoryIdempotencyStore() override;
  IdempotencyClaim claim(const std::string& group, const std::string& event_id) override;
  void complete(const std::string& group, const std::string& event_id) override;
  void release(const std::string& group, const std::string& event_id) override;
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct IdempotentOptions {
  /// Called for each suppressed duplicate (for logs or counters).
  std::function<void(const Envelope&)> on_duplicate;
};

/// Wraps `handler` so each event id runs it to success at most once per
/// group. A failing run releases the claim so the retry can run; a duplicate
/// arriving while the first is in flight fails (and is retried later).
///
/// \code
///   bus->subscribe({.pattern = "order.paid", .group = "loyalty"}, herald::idempotent(store, add_points));
/// \endcode
/// The group is the subscription's; pass one only to share marks across
/// subscriptions (an empty `group` means the subscription's too).
Handler idempotent(std::shared_ptr<IdempotencyStore> store, Handler handler, IdempotentOptions options = {});
Handler idempotent(std::shared_ptr<IdempotencyStore> store, std::string group, Handler handler,
                   IdempotentOptions options = {});

}  // namespace herald
