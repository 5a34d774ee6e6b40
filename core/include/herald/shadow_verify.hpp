#pragma once
// Shadow verification: compares what two transports carried for one pattern
// while a migration publishes to both (dual publish) or forwards from one to
// the other (bridge). `herald migrate verify` is this class on a command line.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/bus.hpp"
#include "herald/envelope.hpp"

namespace herald {

/// The digest shadow verification compares: type, source, subject,
/// dataversion, partitionkey, datacontenttype (absent reads as
/// application/json) and the data as canonical JSON (parsed and dumped, so
/// key order and spacing do not count; data that is not JSON compares byte
/// for byte). Leaves out what a hop may change or add: id (compared as the
/// key), time, the tracing and context ids and every extension attribute,
/// `heraldvia` and the other herald routing markers included. The legacy
/// snake_case envelope decodes to the same Envelope, so one event sent in
/// both forms has one digest. 16 hex digits (64-bit FNV-1a). Thread-safe.
std::string event_digest(const Envelope& event);

/// What to compare and for how long.
struct ShadowVerifyOptions {
  /// Events of these types are compared: `order.#`.
  std::string pattern = "#";
  /// Collection ends this long after start(); zero: no time limit (then
  /// `events` must be set).
  std::chrono::milliseconds duration{std::chrono::seconds(60)};
  /// Collection also ends once each side received this many events of the
  /// window; zero: no count.
  std::size_t events = 0;
  /// After collection ends, how long events already seen on one side may
  /// still arrive on the other (and duplicates still show up).
  std::chrono::milliseconds grace{std::chrono::seconds(5)};
  /// Events whose time is earlier than the moment both subscriptions were in
  /// place plus `settle` are outside the window: one side may have carried
  /// them before the verifier listened. Raise it for publishers whose clocks
  /// run ahead of this one's.
  std::chrono::milliseconds settle{std::chrono::milliseconds(0)};
  /// Prefix of the verifier's consumer groups; each run's are ephemeral
  /// and unique (SubscribeSpec::ephemeral), so no other group loses an event.
  std::string group = "herald-verify";
  /// Ids listed per kind of finding (the counts are always complete).
  std::size_t max_listed = 10;
  /// Names of the two sides in the report (e.g. redacted target URLs).
  std::string old_name = "old";
  std::string new_name = "new";
};

/// How many of one kind of finding, and the first few event ids.
struct ShadowFinding {
  std::size_t count = 0;
  std::vector<std::string> ids;
};

/// Delivery lag (event time → received by the verifier), in milliseconds.
struct ShadowLag {
  std::size_t samples = 0;  ///< events of the window that carried a time
  double p50_ms = 0;
  double p99_ms = 0;
};

/// What one side carried.
struct ShadowSide {
  std::string name;
  std::size_t received = 0;    ///< deliveries, duplicates and events outside the window included
  std::size_t events = 0;      ///< distinct events of the window
  ShadowFinding duplicates;    ///< events of the window delivered more than once (count: events, not copies)
  ShadowLag lag;
};

/// The outcome of a verification. Events outside the window (too early or
/// first seen after collection ended) take part in no finding.
struct ShadowReport {
  std::string pattern;
  ShadowSide old_side;
  ShadowSide new_side;
  ShadowFinding only_old;    ///< in the window on the old side, never on the new one
  ShadowFinding only_new;    ///< on the new side, never on the old one
  ShadowFinding mismatched;  ///< same id, different event_digest()
  /// Events the new side delivered after another event of their partition
  /// key that the old side delivered after them (the old side is the reference).
  ShadowFinding reordered;
  std::size_t compared = 0;        ///< events of the window seen on both sides
  std::size_t outside_window = 0;  ///< distinct ids left out
  /// new minus old, milliseconds (positive: the new side is slower).
  double lag_difference_p50_ms = 0;
  double lag_difference_p99_ms = 0;
  std::chrono::milliseconds collected_for{0};

  /// No event on one side only, no duplicate, no mismatch, no reordering.
  /// Lag is reported, never judged.
  bool clean() const noexcept;
  nlohmann::json to_json() const;
};

/// Reads one pattern's events from two transports (the old and the new
/// target of a migration) and reports how they differ (ShadowReport).
///
/// It subscribes to each with an ephemeral group of its own (RabbitMQ: an
/// exclusive auto-delete queue; Kafka: a group with no committed offsets,
/// deleted at the end; memory: a group of its own), so it takes no event
/// from any other group and leaves nothing behind. Its handler never throws:
/// nothing is retried or dead-lettered on its account. It sees what is
/// published after start(); run it while the service publishes.
///
/// \code
///   auto old_bus = herald::make_bus("amqp://app:secret@mq/");
///   auto new_bus = herald::make_bus("kafka://k1:9092");
///   herald::ShadowVerifier verify(*old_bus, *new_bus, {.pattern = "order.#", .duration = std::chrono::minutes(10)});
///   herald::ShadowReport report = verify.run();
///   if (!report.clean()) std::cerr << report.to_json().dump(2) << '\n';
/// \endcode
///
/// Thread-safety: stop() and done() may be called from any thread; the
/// other members from one thread. The buses must outlive the verifier.
class ShadowVerifier {
 public:
  /// Throws ConfigError for a bad pattern, or neither a duration nor a count.
  ShadowVerifier(EventBus& old_target, EventBus& new_target, ShadowVerifyOptions options);
  /// Cancels the subscriptions (waiting for a handler that is running).
  ~ShadowVerifier();
  ShadowVerifier(const ShadowVerifier&) = delete;
  ShadowVerifier& operator=(const ShadowVerifier&) = delete;

  /// Subscribes on both targets; blocks until both subscriptions are in
  /// place (a Kafka partition assignment can take seconds) and then starts
  /// the window. Throws what subscribe throws (TransportError, TimeoutError).
  void start();
  /// Blocks up to `timeout` for collection to end (duration passed, event
  /// count reached, or stop()); returns whether it has.
  bool wait(std::chrono::milliseconds timeout);
  /// Ends collection now; finish() still waits the grace period.
  void stop();
  bool done() const;
  /// Ends collection (if it has not), waits the grace period (cut short by
  /// nothing: stragglers are what it is for), cancels the subscriptions and
  /// compares. Call once, after start().
  ShadowReport finish();
  /// start(), wait until collection ends, finish().
  ShadowReport run();

 private:
  struct State;
  EventBus& old_;
  EventBus& new_;
  ShadowVerifyOptions options_;
  std::shared_ptr<State> state_;
  Subscription old_sub_;
  Subscription new_sub_;
};

}  // namespace herald
