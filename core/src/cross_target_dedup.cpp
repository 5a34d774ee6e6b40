#include "cross_target_dedup.hpp"

namespace herald::detail {

namespace {
// How long a copy waits for the same event's run from another target before
// it gives up and is redelivered: a handler slower than this is stuck.
constexpr auto kWaitForOtherCopy = std::chrono::seconds(60);
}  // namespace

CrossTargetDedup::CrossTargetDedup(std::shared_ptr<IdempotencyStore> marks, std::string group)
    : marks_(std::move(marks)), group_(std::move(group)) {}

std::optional<Attempt> CrossTargetDedup::run(const Envelope& event, const Invoker& invoke) {
  {
    std::unique_lock lock(mutex_);
    if (!finished_.wait_for(lock, kWaitForOtherCopy, [&] { return !running_.count(event.id); }))
      return Attempt{.ok = false,
                     .error = "event " + event.id + " is still being handled from another target of group '" +
                              group_ + "'",
                     .retriable = true};
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

  switch (marks_->claim(group_, event.id)) {
    case IdempotencyClaim::done:
      return std::nullopt;
    case IdempotencyClaim::busy:
      return Attempt{.ok = false,
                     .error = "event " + event.id + " is being handled by another consumer of group '" + group_ +
                              "' (its copy from another target)",
                     .retriable = true};
    case IdempotencyClaim::acquired:
      break;
  }
  Attempt attempt = invoke(event);
  try {
    if (attempt.ok) marks_->complete(group_, event.id);
    else marks_->release(group_, event.id);
  } catch (...) {
    // The handler ran; a lost mark means at worst one more run of a copy
    // (at-least-once), never a lost event, so the outcome stands.
  }
  return attempt;
}

}  // namespace herald::detail
