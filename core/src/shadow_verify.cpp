#include "herald/shadow_verify.hpp"

#include <condition_variable>
#include <mutex>
#include <unordered_set>

#include "herald/errors.hpp"
#include "herald/pattern.hpp"
#include "shadow_compare.hpp"

namespace herald {

using detail::ShadowReceipt;

// What the handlers (on the transports' threads) share with the caller.
struct ShadowVerifier::State {
  State(std::size_t target_events, std::chrono::milliseconds duration)
      : target_events(target_events), duration(duration) {}

  mutable std::mutex mutex;
  std::condition_variable changed;
  std::vector<ShadowReceipt> sides[2];
  // Distinct events per side inside the window so far, for `events`.
  std::unordered_set<std::string> counted[2];
  const std::size_t target_events;
  const std::chrono::milliseconds duration;  // zero: no time limit
  bool window_open = false;
  Timestamp window_start{};
  std::chrono::steady_clock::time_point started_at{};
  bool ended = false;
  Timestamp window_end{};
  std::chrono::steady_clock::time_point ended_at{};

  void receive(int side, const Envelope& e) {
    ShadowReceipt r{.id = e.id, .key = e.partitionkey, .digest = event_digest(e), .time = e.time,
                    .received = now_micros()};
    std::lock_guard lock(mutex);
    if (window_open && !ended && target_events > 0 &&
        (r.time.time_since_epoch().count() == 0 || r.time >= window_start)) {
      counted[side].insert(r.id);
      if (counted[0].size() >= target_events && counted[1].size() >= target_events) end_locked();
    }
    sides[side].push_back(std::move(r));
  }
  bool overdue_locked() const {
    return duration.count() > 0 && std::chrono::steady_clock::now() >= started_at + duration;
  }
  void end_locked() {
    if (ended) return;
    ended = true;
    ended_at = std::chrono::steady_clock::now();
    window_end = now_micros();
    // Noticed late (nobody was waiting): the window still closes on time.
    if (duration.count() > 0 && ended_at > started_at + duration) {
      const auto late = std::chrono::duration_cast<std::chrono::microseconds>(ended_at - (started_at + duration));
      window_end -= late;
      ended_at = started_at + duration;
    }
    changed.notify_all();
  }
};

ShadowVerifier::ShadowVerifier(EventBus& old_target, EventBus& new_target, ShadowVerifyOptions options)
    : old_(old_target), new_(new_target), options_(std::move(options)),
      state_(std::make_shared<State>(options_.events, options_.duration)) {
  validate_pattern(options_.pattern);
  if (options_.duration.count() < 0 || options_.grace.count() < 0 || options_.settle.count() < 0)
    throw ConfigError("verify: duration, grace and settle cannot be negative");
  if (options_.duration.count() == 0 && options_.events == 0)
    throw ConfigError("verify: give a duration or a number of events, or it never ends");
}

ShadowVerifier::~ShadowVerifier() {
  old_sub_.cancel();
  new_sub_.cancel();
}

void ShadowVerifier::start() {
  auto subscribe = [&](EventBus& bus, int side) {
    // The handler must not throw: a failure would be retried and
    // dead-lettered under the verifier's group, and a verifier has no
    // business leaving dead letters anywhere. What it cannot digest it
    // cannot compare either; out of memory is the only way here.
    return bus.subscribe({.pattern = options_.pattern, .group = options_.group, .ephemeral = true},
                         [state = state_, side](const Envelope& e) {
                           try {
                             state->receive(side, e);
                           } catch (...) {
                           }
                         });
  };
  old_sub_ = subscribe(old_, 0);
  new_sub_ = subscribe(new_, 1);
  std::lock_guard lock(state_->mutex);
  state_->window_start = now_micros() + std::chrono::duration_cast<std::chrono::microseconds>(options_.settle);
  state_->window_open = true;
  state_->started_at = std::chrono::steady_clock::now();
}

bool ShadowVerifier::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  if (!state_->window_open) throw ConfigError("verify: wait() before start()");
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (state_->ended) return true;
    if (state_->overdue_locked()) {
      state_->end_locked();
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up) return false;
    auto until = give_up;
    if (state_->duration.count() > 0) until = std::min(until, state_->started_at + state_->duration);
    state_->changed.wait_until(lock, until);
  }
}

void ShadowVerifier::stop() {
  std::lock_guard lock(state_->mutex);
  state_->end_locked();
}

bool ShadowVerifier::done() const {
  std::lock_guard lock(state_->mutex);
  return state_->ended;
}

ShadowReport ShadowVerifier::finish() {
  std::unique_lock lock(state_->mutex);
  if (!state_->window_open) throw ConfigError("verify: finish() before start()");
  state_->end_locked();
  // Stragglers may arrive for the whole grace period: it is a wait for
  // what may come, so nothing ends it early.
  const auto until = std::chrono::steady_clock::now() + options_.grace;
  state_->changed.wait_until(lock, until, [&] { return std::chrono::steady_clock::now() >= until; });
  lock.unlock();
  // Cancelling waits for a running handler, which takes the lock.
  old_sub_.cancel();
  new_sub_.cancel();
  lock.lock();
  const detail::ShadowWindow window{.start = state_->window_start, .end = state_->window_end};
  ShadowReport report = detail::compare_shadow(state_->sides[0], state_->sides[1], window, options_);
  report.collected_for = std::chrono::duration_cast<std::chrono::milliseconds>(state_->ended_at - state_->started_at);
  return report;
}

ShadowReport ShadowVerifier::run() {
  start();
  while (!wait(std::chrono::hours(1))) {
  }
  return finish();
}

}  // namespace herald
