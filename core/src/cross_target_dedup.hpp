#pragma once
// A group that reads one route from two targets (dual publish, a drain after
// a cut-over) receives each event once per target. The first copy to arrive
// owns the event for the group: it runs the handler, and its target retries
// and dead-letters it as that target always does; copies from the other
// targets are acked. The group then handles the event as it would on one
// transport — one run per attempt, one dead letter.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "herald/ext/transport.hpp"
#include "herald/idempotency.hpp"

namespace herald::detail {

class CrossTargetDedup {
 public:
  /// `marks` holds (group, event id) marks across restarts and processes.
  CrossTargetDedup(std::shared_ptr<IdempotencyStore> marks, std::string group);

  /// Runs `invoke` for the copy of `event` that target `target` delivered,
  /// or returns nullopt when another copy owns the event (handled it, or its
  /// target is retrying it). A copy arriving while another runs in this
  /// process waits for its outcome, so a later event of the key cannot
  /// overtake it; an event another process of the group is running makes
  /// this copy fail retriably (redelivered, then acked). Store errors
  /// propagate (the target retries).
  std::optional<Attempt> run(const Envelope& event, std::size_t target, const Invoker& invoke);

 private:
  void remember_owner(const std::string& id, std::size_t target);

  std::shared_ptr<IdempotencyStore> marks_;
  const std::string group_;
  std::mutex mutex_;
  std::condition_variable finished_;
  std::unordered_set<std::string> running_;  // event ids being handled here
  // Events whose run failed here, by the target that owns their retries.
  std::unordered_map<std::string, std::size_t> owners_;
  std::deque<std::string> owner_order_;  // bounds owners_
};

}  // namespace herald::detail
