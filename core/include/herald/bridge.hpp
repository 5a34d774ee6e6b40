#pragma once
// Bridge: forwards one bus's events to another, at least once, the events
// unchanged but for a hop marker, so that producers and consumers of an event
// family can move from one transport to another at different times.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "herald/bus.hpp"
#include "herald/envelope.hpp"
#include "herald/retry.hpp"

namespace herald {

/// The CloudEvents extension attribute that records where a bridged event
/// has been: the transport it was first published on, then one `name>to`
/// entry per bridge that carried it, separated by spaces:
/// `amqp://rabbit1:5672/ orders-rk>kafka://k1:9092`.
inline constexpr std::string_view bridge_via_attribute = "heraldvia";

/// How a Bridge reads, names itself and retries. Aggregate with defaults.
struct BridgeOptions {
  /// Types to forward: `order.#`, `payment.*`, `#`.
  std::string pattern;
  /// The bridge's consumer group on the source. A bridge restarted with the
  /// same group goes on where it stopped (on transports that keep groups).
  std::string group;
  /// The bridge's id in the hop marker: letters, digits, '.', '_', '-'.
  /// Empty: the group.
  std::string name;
  /// The source and destination transports as the hop marker names them,
  /// the same for every bridge that touches them (bridge_transport_label()
  /// of their URLs). Required: a pair of bridges A→B and B→A recognises an
  /// event that came back only by these names. No spaces, no '>'.
  std::string from_label;
  std::string to_label;
  /// An event that already went through this many bridges is refused
  /// (dead-lettered on the source, reason non_retriable).
  int max_hops = 4;
  /// Handlers of the source subscription at once; order per partition key
  /// holds at any value (the source runs one key's events one at a time).
  int concurrency = 1;
  StartFrom start = StartFrom::latest;
  /// How long a handler retries a refused forward in place before it hands
  /// the event back to the source. Retrying in place holds the key: later
  /// events of the same key wait, so order per key holds across a target
  /// outage of up to this long even on a source whose redelivery lets them
  /// pass (RabbitMQ). Zero: one attempt per delivery.
  std::chrono::milliseconds hold{30'000};
  /// The source's retry policy for events handed back; its default rides out
  /// a target outage of hours before dead-lettering an event (max_attempts
  /// of 30 s apart), and `herald dlq replay` brings them back after.
  RetryPolicy retry{.max_attempts = 1000,
                    .initial_delay = std::chrono::milliseconds(500),
                    .multiplier = 2.0,
                    .max_delay = std::chrono::milliseconds(30'000),
                    .jitter = 0.2};
};

/// What a bridge did so far.
struct BridgeCounts {
  /// Events the destination accepted.
  std::uint64_t forwarded = 0;
  /// Events acknowledged without forwarding: their hop marker shows they
  /// came through this bridge or were on the destination already.
  std::uint64_t skipped_loop = 0;
  /// Events refused for good: more hops than max_hops, or the destination
  /// can never take them (no route for the type, data over its limit).
  /// The source dead-letters them.
  std::uint64_t refused = 0;
  /// Forward attempts the destination refused for now (retried).
  std::uint64_t failed = 0;
};

/// Forwards the events of `from` that match a pattern to `to`, at least once.
///
/// - Each event goes out as it came: the same id, time, source, partition
///   key, correlation and causation ids, data and extensions. It is not
///   stamped as a new event published by a handler. Only `heraldvia` grows
///   by this bridge's hop.
/// - A handler returns only after `to` accepted the event (its publish
///   returned: broker confirm, delivery report, store commit). A refused
///   forward is retried in place for `hold`, then the handler fails with a
///   retriable error and the source redelivers the event per `retry`:
///   nothing is lost, and a redelivered event may arrive twice (at least
///   once; consumers dedup by event id).
/// - Order per partition key is the source's: one key's events are
///   forwarded one at a time, each published before the next is taken.
/// - An event whose `heraldvia` names this bridge or this bridge's
///   destination is acknowledged without forwarding (counted in
///   skipped_loop), so a pair of bridges A→B and B→A carries each event
///   once and never back.
///
/// Thread-safe. Handlers run on the source's threads and block on the
/// destination's publish. The bridge must not outlive either bus.
///
/// \code
///   auto rabbit = herald::make_bus("amqp://…");
///   auto kafka = herald::make_bus("kafka://…");
///   herald::Bridge bridge(*rabbit, *kafka,
///                         {.pattern = "order.#", .group = "orders-bridge",
///                          .from_label = herald::bridge_transport_label("amqp://…"),
///                          .to_label = herald::bridge_transport_label("kafka://…")});
///   …
///   bridge.stop(std::chrono::seconds(30));   // drains, then flushes kafka
/// \endcode
class Bridge {
 public:
  /// Validates `options` (ConfigError naming the field) and subscribes on
  /// `from`; forwarding starts at once.
  Bridge(EventBus& from, EventBus& to, BridgeOptions options);
  /// stop() with a short flush; never throws.
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  /// Drains: takes no more events (a forward retrying in place gives its
  /// event back to the source at once), waits for forwards in flight, then
  /// flushes `to` within `flush_timeout`. Returns whether the flush
  /// finished in time. Idempotent; blocks; call it from any thread but a
  /// handler of `from`.
  bool stop(std::chrono::milliseconds flush_timeout = std::chrono::seconds(30));

  BridgeCounts counts() const noexcept;
  /// Why the destination last refused a forward ("" when it never did).
  std::string last_error() const;
  const BridgeOptions& options() const noexcept { return options_; }

 private:
  void forward(const Envelope& event);
  void publish_held(const Envelope& event);

  EventBus& from_;
  EventBus& to_;
  BridgeOptions options_;
  std::atomic<std::uint64_t> forwarded_{0}, skipped_loop_{0}, refused_{0}, failed_{0};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;  // for stop_cv_: wakes forwards retrying in place
  std::condition_variable stop_cv_;
  mutable std::mutex error_mutex_;
  std::string last_error_;
  std::mutex stop_call_mutex_;  // guards the two below
  bool stopped_ = false;
  bool flushed_ = true;
  Subscription subscription_;  // last: cancelled before the members handlers use
};

/// The name a bridge gives the transport of `url` in the hop marker: the
/// scheme, host(s), port and virtual host, plus the options that choose a
/// namespace on the broker (exchange, topic_prefix, topic); never
/// credentials. Two spellings of one broker give one label when they agree
/// on these. Throws ConfigError for a URL that does not parse.
std::string bridge_transport_label(std::string_view url);

}  // namespace herald
