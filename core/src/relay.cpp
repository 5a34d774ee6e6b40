#include "herald/relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <thread>

#include "herald/errors.hpp"
#include "herald/ext/store.hpp"
#include "herald/log.hpp"
#include "relay_batches.hpp"

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

// Batches per pass of a running Relay: its stats are updated after each
// pass, and the next batch can be claimed while one is published only
// within a pass.
constexpr std::size_t batches_per_pass = 16;

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
  if (!options.owner.empty()) return detail::run_batches(store, bus, options, max_batches, nullptr);
  RelayOptions named = options;
  named.owner = make_owner();
  return detail::run_batches(store, bus, named, max_batches, nullptr);
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
      // Several batches a pass, so that the next can be claimed while one
      // is published; a stop is still seen between batches.
      pass = detail::run_batches(store_, bus_, options_, batches_per_pass, [&] {
        std::lock_guard lock(mutex_);
        return !stopping_;
      });
      // Only a pass's last batch can be short: a full one means more waits.
      more = pass.claimed > 0 && pass.claimed % options_.batch_size == 0 && pass.transport_failures == 0;
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
