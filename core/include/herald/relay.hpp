#pragma once
// The outbox relay: delivers undelivered events from an EventStore to an
// EventBus, in order per aggregate, backing off and dead-lettering on failure.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "herald/bus.hpp"
#include "herald/event_store.hpp"
#include "herald/retry.hpp"

namespace herald {

struct RelayOptions {
  /// Pause between passes that found nothing more to do
  /// (HERALD_OUTBOX_INTERVAL_MS).
  std::chrono::milliseconds interval{200};
  /// Rows claimed and published per batch.
  std::size_t batch_size = 1000;
  /// Backoff between failed publishes of one row, and the attempts before it
  /// is flagged dead (max_attempts: HERALD_OUTBOX_MAX_ATTEMPTS). Only
  /// failures of the row itself count (see transport_backoff).
  RetryPolicy retry{.max_attempts = 10,
                    .initial_delay = std::chrono::seconds(1),
                    .multiplier = 2.0,
                    .max_delay = std::chrono::minutes(5),
                    .jitter = 0.2};
  /// The wait before the next pass after a pass found the transport down
  /// (broker unreachable, timeouts): the whole relay backs off and the rows
  /// keep their attempts. Grows with each pass that finds it still down;
  /// max_attempts is not used. A failure is the transport's when the bus
  /// throws a herald::Error with retriable() == true (TransportError,
  /// TimeoutError, a retriable PublishError such as a Kafka delivery timeout
  /// or a RabbitMQ nack) or a ClosedError, and the next row tried (of another
  /// ordering key) fails so too; when that row is accepted instead, the
  /// failure was the first row's own. Any other exception (a PublishError
  /// that is not retriable: unroutable, too large, not authorized) is the
  /// row's and spends one of its attempts.
  RetryPolicy transport_backoff{.max_attempts = 1,
                                .initial_delay = std::chrono::seconds(1),
                                .multiplier = 2.0,
                                .max_delay = std::chrono::seconds(30),
                                .jitter = 0.2};
  /// How long claimed rows stay with this relay; another relay may take
  /// them over once it ran out (the relay died).
  std::chrono::milliseconds lease{30'000};
  /// Names this relay in leases; default "<host>:<pid>:<random>".
  std::string owner;
  /// Whose deliveries this relay carries: a target named at append
  /// (AppendOptions::targets; dual publish), published to `bus` as they
  /// are; empty: the event rows (every event appended without targets).
  std::string target;
  /// The relay's clock for backoff and leases; null: the system clock.
  /// Tests pass a simulated one.
  std::function<Timestamp()> clock;
  /// Called with what went wrong when a pass failed on the store itself (the
  /// relay retries after `interval`); null: ignored. Never contains passwords.
  std::function<void(const std::string&)> on_error;
  /// Called when a pass found the transport down, with the error and the
  /// wait before the next pass; null: ignored.
  std::function<void(const std::string&)> on_transport_down;

  /// `defaults` overridden by HERALD_OUTBOX_INTERVAL_MS, HERALD_OUTBOX_MAX_ATTEMPTS,
  /// HERALD_OUTBOX_BATCH_SIZE and HERALD_OUTBOX_LEASE_MS. Throws ConfigError
  /// for a value that is not a number in range.
  static RelayOptions from_env(RelayOptions defaults);
  static RelayOptions from_env();
  /// Throws ConfigError for nonsense values.
  void validate() const;
};

/// What relay passes did.
struct RelayStats {
  std::uint64_t claimed = 0;
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;         // failed publish attempts (each followed by a backoff or dead flag)
  std::uint64_t dead_lettered = 0;
  std::uint64_t passes = 0;
  std::uint64_t store_errors = 0;   // passes that failed on the store
  std::uint64_t publish_calls = 0;  // EventBus::publish calls (batches and single retries)
  std::uint64_t transport_failures = 0;  // passes that found the transport down (no row charged)
  std::uint64_t mark_retries = 0;   // store failures marking published rows delivered, retried
  std::string transport_error;      // the last transport failure seen ("" for none)
  RelayStats& operator+=(const RelayStats& o) noexcept;
};

/// One pass: claims due rows (a batch at a time, until none is left,
/// `max_batches` were done or the transport is down), publishes each batch
/// with EventBus::publish(std::vector<Envelope>), and marks rows delivered,
/// or failed with their backoff, or dead. When marking published rows
/// delivered fails, the mark is retried with backoff while the rows' lease
/// lasts; they are not published again. Blocks; throws StoreError when the
/// store fails (rows claimed by then are retried after their lease).
RelayStats relay_pass(EventStore& store, EventBus& bus, const RelayOptions& options,
                      std::size_t max_batches = SIZE_MAX);

/// A relay running inside the application on a thread of its own, from
/// construction until stop() or destruction. The store and bus must outlive it.
///
/// \code
///   auto store = herald::open_event_store("sqlite:///var/lib/orders/events.db");
///   auto bus = herald::make_bus("amqp://guest:guest@127.0.0.1:5672/");
///   herald::Relay relay(*store, *bus, herald::RelayOptions::from_env());
///   // ... append events in your transactions; the relay delivers them.
/// \endcode
class Relay {
 public:
  Relay(EventStore& store, EventBus& bus, RelayOptions options = RelayOptions::from_env());
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  /// Starts a pass now instead of after the interval (not while it backs off
  /// from a transport outage). Thread-safe, non-blocking.
  void wake();
  /// Finishes the pass in progress and joins the thread. Idempotent.
  void stop();
  /// Totals of the passes ended so far (a pass is up to 16 batches; its
  /// counts show when it ends). Thread-safe.
  RelayStats stats() const;
  /// Blocks until a pass that began after this call has finished, or
  /// `timeout`; returns false on timeout or when stopped.
  bool wait_for_pass(std::chrono::milliseconds timeout);

 private:
  void run();
  EventStore& store_;
  EventBus& bus_;
  RelayOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_cv_;
  std::condition_variable pass_cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::uint64_t passes_started_ = 0;
  std::uint64_t passes_done_ = 0;
  RelayStats stats_;
  std::thread thread_;
};

}  // namespace herald
