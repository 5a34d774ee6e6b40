#include "herald/relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "herald/errors.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/ext/store.hpp"
#include "herald/log.hpp"

namespace herald {

namespace {

long long env_number(const char* name, long long fallback, long long min, long long max) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  std::string_view text(v);
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    throw ConfigError(std::string(name) + "='" + std::string(text) + "' is not a whole number from " +
                      std::to_string(min) + " to " + std::to_string(max));
  return value;
}

std::string make_owner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", rd());
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + suffix;
}

Timestamp clock_now(const RelayOptions& o) { return o.clock ? o.clock() : now_micros(); }

// A failure that may be the transport's as a whole (broker unreachable,
// timed out, closed) rather than this event's: it must not spend the row's
// attempts. Whether it was is told by the next row tried (one_by_one).
bool maybe_transport_wide(const std::exception& ex) {
  auto* e = dynamic_cast<const Error*>(&ex);
  if (!e) return false;
  return e->retriable() || e->code() == ErrorCode::closed;
}

// Dead rows show in the bus metrics as group "outbox" (herald_dead_letters_total{reason="max_attempts"}).
constexpr const char* relay_group = "outbox";

using SteadyTime = std::chrono::steady_clock::time_point;

class BatchDelivery {
 public:
  BatchDelivery(EventStore& store, EventBus& bus, const RelayOptions& options, RelayStats& stats)
      : store_(store), bus_(bus), options_(options), stats_(stats) {}

  /// Delivers claimed `rows`, which stay ours until `lease_end`. Returns
  /// false when the transport was found down (nothing more to try now).
  bool deliver(std::vector<StoredEvent>& rows, SteadyTime lease_end) {
    Timestamp now = clock_now(options_);
    bool published = false;
    {
      std::vector<Envelope> events;
      events.reserve(rows.size());
      for (const auto& r : rows) events.push_back(r.event);
      try {
        ++stats_.publish_calls;
        bus_.publish(std::move(events));
        published = true;
      } catch (...) {
        // The batch call does not say which events were accepted: find out
        // one by one, in order (those accepted already go out twice;
        // consumers are idempotent).
      }
    }
    if (!published) return one_by_one(rows, now, lease_end);
    std::vector<std::int64_t> positions;
    positions.reserve(rows.size());
    for (const auto& r : rows) positions.push_back(r.position);
    mark_delivered(positions, lease_end);
    stats_.delivered += rows.size();
    return true;
  }

 private:
  bool one_by_one(std::vector<StoredEvent>& rows, Timestamp now, SteadyTime lease_end) {
    std::set<std::string> blocked;  // ordering keys with a failed row in this batch
    std::vector<std::int64_t> delivered, untried;
    std::vector<DeliveryFailure> failures;
    // Rows that failed in a way the transport as a whole may have caused:
    // charged to the row only when a later row (of another key) gets through.
    std::vector<std::pair<const StoredEvent*, std::string>> suspects;
    std::optional<std::string> down;
    for (auto& row : rows) {
      std::string key = ordering_key(row.event);
      if (down || (!key.empty() && blocked.count(key))) {
        untried.push_back(row.position);
        continue;
      }
      try {
        ++stats_.publish_calls;
        bus_.publish(row.event);
        delivered.push_back(row.position);
        for (const auto& [suspect, error] : suspects) failures.push_back(failure(*suspect, error, now));
        suspects.clear();
      } catch (const std::exception& ex) {
        if (!key.empty()) blocked.insert(key);
        if (!maybe_transport_wide(ex)) {
          failures.push_back(failure(row, ex.what(), now));
        } else {
          if (!suspects.empty()) down = ex.what();  // two rows in a row: the transport is down
          suspects.emplace_back(&row, ex.what());
        }
      } catch (...) {
        if (!key.empty()) blocked.insert(key);
        failures.push_back(failure(row, "unknown exception (not derived from std::exception)", now));
      }
    }
    // Suspects that nothing after them cleared are presumed the transport's:
    // they keep their attempts and the relay backs off.
    if (!suspects.empty()) {
      if (!down) down = suspects.back().second;
      for (const auto& [suspect, error] : suspects) untried.push_back(suspect->position);
    }
    if (!delivered.empty()) mark_delivered(delivered, lease_end);
    stats_.delivered += delivered.size();
    if (!failures.empty()) store_.mark_failed(failures, options_.target);
    if (!untried.empty()) store_.release(untried, options_.owner, options_.target);
    if (down) {
      ++stats_.transport_failures;
      stats_.transport_error = *down;
    }
    return !down;
  }

  // The rows are published: publishing them again because the store failed
  // would send them twice, so only the mark is retried, while the lease
  // keeps them ours. Past it the pass fails and the rows go out again after
  // their lease (at least once).
  void mark_delivered(const std::vector<std::int64_t>& positions, SteadyTime lease_end) {
    auto delay = std::chrono::milliseconds(10);
    while (true) {
      try {
        store_.mark_delivered(positions, clock_now(options_), options_.target);
        return;
      } catch (const std::exception&) {
        if (std::chrono::steady_clock::now() + delay >= lease_end) throw;
      }
      ++stats_.mark_retries;
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds(1000));
    }
  }

  DeliveryFailure failure(const StoredEvent& row, const std::string& error, Timestamp now) {
    int attempts = row.delivery_attempts + 1;
    DeliveryFailure f;
    f.position = row.position;
    f.error = error;
    f.dead = !options_.retry.should_retry(attempts);
    f.next_attempt_at = now + std::chrono::duration_cast<std::chrono::microseconds>(options_.retry.delay_after(attempts));
    ++stats_.failed;
    if (f.dead) {
      ++stats_.dead_lettered;
      bus_.metrics().consumer(row.event.type, relay_group).count_dead_letter(
          static_cast<std::size_t>(DeadLetterReason::max_attempts));
    }
    return f;
  }

  EventStore& store_;
  EventBus& bus_;
  const RelayOptions& options_;
  RelayStats& stats_;
};

}  // namespace

RelayOptions RelayOptions::from_env() { return from_env(RelayOptions{}); }

RelayOptions RelayOptions::from_env(RelayOptions o) {
  o.interval = std::chrono::milliseconds(env_number("HERALD_OUTBOX_INTERVAL_MS", o.interval.count(), 1, 3'600'000));
  o.retry.max_attempts = static_cast<int>(env_number("HERALD_OUTBOX_MAX_ATTEMPTS", o.retry.max_attempts, 1, 1'000'000));
  o.batch_size = static_cast<std::size_t>(
      env_number("HERALD_OUTBOX_BATCH_SIZE", static_cast<long long>(o.batch_size), 1, 100'000));
  o.lease = std::chrono::milliseconds(env_number("HERALD_OUTBOX_LEASE_MS", o.lease.count(), 100, 86'400'000));
  return o;
}

void RelayOptions::validate() const {
  if (interval <= std::chrono::milliseconds::zero()) throw ConfigError("relay: interval must be positive");
  if (batch_size == 0) throw ConfigError("relay: batch_size must be at least 1");
  if (lease <= std::chrono::milliseconds::zero()) throw ConfigError("relay: lease must be positive");
  retry.validate();
  transport_backoff.validate();
}

RelayStats& RelayStats::operator+=(const RelayStats& o) noexcept {
  claimed += o.claimed;
  delivered += o.delivered;
  failed += o.failed;
  dead_lettered += o.dead_lettered;
  passes += o.passes;
  store_errors += o.store_errors;
  publish_calls += o.publish_calls;
  transport_failures += o.transport_failures;
  mark_retries += o.mark_retries;
  if (!o.transport_error.empty()) transport_error = o.transport_error;
  return *this;
}

RelayStats relay_pass(EventStore& store, EventBus& bus, const RelayOptions& options, std::size_t max_batches) {
  options.validate();
  RelayOptions named;
  const RelayOptions* o = &options;
  if (options.owner.empty()) {
    named = options;
    named.owner = make_owner();
    o = &named;
  }
  RelayStats stats;
  stats.passes = 1;
  BatchDelivery delivery(store, bus, *o, stats);
  for (std::size_t batch = 0; batch < max_batches; ++batch) {
    LeaseRequest request{.now = clock_now(*o), .lease = o->lease, .owner = o->owner, .limit = o->batch_size,
                         .target = o->target};
    auto lease_end = std::chrono::steady_clock::now() + o->lease;
    auto rows = store.claim(request);
    stats.claimed += rows.size();
    if (rows.empty()) break;
    if (!delivery.deliver(rows, lease_end)) break;  // the transport is down: the caller backs off
    if (rows.size() < o->batch_size) break;
  }
  return stats;
}

Relay::Relay(EventStore& store, EventBus& bus, RelayOptions options)
    : store_(store), bus_(bus), options_(std::move(options)) {
  options_.validate();
  if (options_.owner.empty()) options_.owner = make_owner();
  thread_ = std::thread([this] { run(); });
}

Relay::~Relay() { stop(); }

void Relay::wake() {
  std::lock_guard lock(mutex_);
  woken_ = true;
  wake_cv_.notify_all();
}

void Relay::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_cv_.notify_all();
    pass_cv_.notify_all();
  }
  if (!thread_.joinable() || thread_.get_id() == std::this_thread::get_id()) return;
  thread_.join();
  // The store is free for the next relay now, not when our lease runs out.
  try {
    store_.stand_down(options_.owner);
  } catch (const std::exception&) {
    // Unreachable store: the lease runs out as it would after a crash.
  }
}

RelayStats Relay::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool Relay::wait_for_pass(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  // A pass already running may have claimed before the caller's change:
  // wait for one that starts after now.
  std::uint64_t target = passes_started_ + 1;
  woken_ = true;
  wake_cv_.notify_all();
  return pass_cv_.wait_for(lock, timeout, [&] { return stopping_ || passes_done_ >= target; }) && !stopping_;
}

namespace {

void log_relay(LogLevel level, const std::string& what, const std::string& why) noexcept {
  try {
    log(level, "herald.relay", what + why);
  } catch (...) {
  }
}

}  // namespace

void Relay::run() {
  int outages = 0;  // passes in a row that found the transport down
  std::string logged;  // the store error said last: a store that stays down is said once
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      ++passes_started_;
      woken_ = false;
    }
    RelayStats pass;
    bool more = false;
    try {
      pass = relay_pass(store_, bus_, options_, 1);
      more = pass.claimed >= options_.batch_size && pass.transport_failures == 0;
    } catch (...) {
      pass.passes = 1;
      pass.store_errors = 1;
      std::string error = "unknown exception (not derived from std::exception)";
      try {
        throw;
      } catch (const std::exception& ex) {
        error = ex.what();
      } catch (...) {
      }
      if (error != logged) log_relay(LogLevel::error, "outbox relay: pass failed: ", error);
      logged = error;
      if (options_.on_error) {
        try {
          options_.on_error(error);
        } catch (...) {
          // A throwing error callback must not end the relay.
        }
      }
    }
    std::optional<std::chrono::milliseconds> backoff;
    if (pass.transport_failures > 0) {
      backoff = options_.transport_backoff.delay_after(++outages);
      log_relay(LogLevel::warn, "outbox relay: transport down: ",
                pass.transport_error + " (next try in " + std::to_string(backoff->count()) + " ms)");
      if (options_.on_transport_down) {
        try {
          options_.on_transport_down(pass.transport_error + " (next try in " + std::to_string(backoff->count()) + " ms)");
        } catch (...) {
          // A throwing callback must not end the relay.
        }
      }
    } else if (pass.store_errors == 0) {
      outages = 0;
    }
    if (pass.store_errors == 0) logged.clear();
    std::unique_lock lock(mutex_);
    stats_ += pass;
    ++passes_done_;
    pass_cv_.notify_all();
    // While the transport is down, appends do not cut the wait short: each
    // would cost a publish that times out.
    if (backoff)
      wake_cv_.wait_for(lock, *backoff, [&] { return stopping_; });
    else if (!more)
      wake_cv_.wait_for(lock, options_.interval, [&] { return stopping_ || woken_; });
  }
}

}  // namespace herald
