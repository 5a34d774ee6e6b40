#include "cross_target_dedup.hpp"

namespace herald::detail {

namespace {
// How long a copy waits for the same event's run from another target before
// it gives up and is redelivered: a handler slower than this is stuck.
constexpr auto kWaitForOtherCopy = std::chrono::seconds(60);
// Failed events remembered with their owning target; beyond this the oldest
// are forgotten (their retries then meet a busy mark and are redelivered
// until the store's claim timeout hands the event over).
constexpr std::size_t kMaxOwners = 100'000;

Attempt retry_later(std::string error) { return Attempt{.ok = false, .error = std::move(error), .retriable = true}; }
}  // namespace

CrossTargetDedup::CrossTargetDedup(std::shared_ptr<IdempotencyStore> marks, std::string group)
    : marks_(std::move(marks)), group_(std::move(group)) {}

void CrossTargetDedup::remember_owner(const std::string& id, std::size_t target) {
  if (owners_.insert_or_assign(id, target).second) owner_order_.push_back(id);
  while (owners_.size() > kMaxOwners && !owner_order_.empty()) {
    owners_.erase(owner_order_.front());
    owner_order_.pop_front();
  }
}

std::optional<Attempt> CrossTargetDedup::run(const Envelope& event, std::size_t target, const Invoker& invoke) {
  bool retry_of_own = false;
  {
    std::unique_lock lock(mutex_);
    if (!finished_.wait_for(lock, kWaitForOtherCopy, [&] { return !running_.count(event.id); }))
      return retry_later("event " + event.id + " is still being handled from another target of group '" + group_ + "'");
    if (auto owner = owners_.find(event.id); owner != owners_.end()) {
      if (owner->second != target) return std::nullopt;  // the owning target retries or holds it dead
      retry_of_own = true;                                // our mark is still held: run again
    }
    running_.insert(event.id);
  }
  struct Done {
    CrossTargetDedup& self;
    const std::string& id;
    ~Done() {
      {
        std::lock_guard lock(self.mutex_);
        self.running_.erase(id);
      }
      self.finished_.notify_all();
    }
  } done{*this, event.id};

  if (!retry_of_own) {
    switch (marks_->claim(group_, event.id)) {
      case IdempotencyClaim::done:
        return std::nullopt;
      case IdempotencyClaim::busy:
        return retry_later("event " + event.id + " is being handled by another consumer of group '" + group_ +
                           "' (its copy from another target)");
      case IdempotencyClaim::acquired:
        break;
    }
  }
  Attempt attempt = invoke(event);
  if (attempt.ok) {
    {
      std::lock_guard lock(mutex_);
      owners_.erase(event.id);
    }
    try {
      marks_->complete(group_, event.id);
    } catch (...) {
      // The handler ran; a lost mark means at worst one more run of a late
      // copy (at-least-once), never a lost event, so the outcome stands.
    }
  } else {
    // The mark stays held: this target retries (or dead-letters) the event,
    // and copies from other targets are acked meanwhile.
    std::lock_guard lock(mutex_);
    remember_owner(event.id, target);
  }
  return attempt;
}

}  // namespace herald::detail
