#pragma once
// A group that reads one route from two targets (dual publish, a drain after
// a cut-over) receives each event once per target. This lets the first copy
// run the handler and acks the others, by (group, event id) in an
// idempotency store, so the group applies each event once.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "herald/ext/transport.hpp"
#include "herald/idempotency.hpp"

namespace herald::detail {

class CrossTargetDedup {
 public:
  CrossTargetDedup(std::shared_ptr<IdempotencyStore> marks, std::string group);

  /// Runs `invoke` for the first copy of `event`, and again after a failed
  /// run; returns nullopt for a copy of an event the group applied. A copy
  /// arriving while another runs in this process waits for its outcome, so a
  /// later event of the same key cannot overtake it; one running in another
  /// process of the group makes this copy fail retriably (it is redelivered
  /// and then acked). Store errors propagate (the target retries).
  std::optional<Attempt> run(const Envelope& event, const Invoker& invoke);

 private:
  std::shared_ptr<IdempotencyStore> marks_;
  const std::string group_;
  std::mutex mutex_;
  std::condition_variable finished_;
  std::unordered_set<std::string> running_;  // event ids being handled here
};

}  // namespace herald::detail
