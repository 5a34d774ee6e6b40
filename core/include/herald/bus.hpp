#pragma once
// EventBus: publish and subscribe, whatever the transport. What transports
// implement (the publish and subscribe hooks, Attempt, Invoker, the
// registry) is in herald/ext/transport.hpp.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "herald/codec.hpp"
#include "herald/dead_letter.hpp"
#include "herald/envelope.hpp"
#include "herald/metrics.hpp"
#include "herald/retry.hpp"
#include "herald/scheduler.hpp"

namespace herald {

namespace ext {
class Transport;
}

/// A handler fails by throwing; the bus then retries it per the policy.
using Handler = std::function<void(const Envelope&)>;

/// Where a group that never subscribed before starts reading.
enum class StartFrom : std::uint8_t {
  /// What is published after its first subscribe — the same on every
  /// transport, so swapping the transport never makes a new service handle
  /// old events (think of a mailer re-sending a year of emails).
  latest,
  /// Also what the transport still holds (Kafka: its retention). Transports
  /// that hold nothing for a group that does not exist yet (memory,
  /// RabbitMQ) start at latest. Replay from the event store works everywhere.
  earliest,
};

/// What to receive and how.
struct SubscribeSpec {
  /// Topic pattern: `order.*`, `order.#`, `#.failed.#`.
  std::string pattern;
  /// Consumer group. Members of one group compete for each event; every
  /// group gets every event. Name it after the consuming service.
  std::string group;
  /// Handlers of this subscription running at once (prefetch on brokers).
  int concurrency = 1;
  RetryPolicy retry;
  /// A subscription of this process only (cache invalidation, watching
  /// tools): every instance gets every event published while it lives and
  /// nothing is kept after it ends (RabbitMQ: an exclusive auto-delete
  /// queue; Kafka: no committed offsets; memory: a group of its own).
  /// `group`, optional here, only prefixes the name core makes unique.
  bool ephemeral = false;
  /// Where a new group starts (an ephemeral one is always new).
  StartFrom start = StartFrom::latest;
};

/// What a transport guarantees; the conformance suite switches tests on them.
struct Features {
  std::string name;
  bool persistent = false;       // events survive a restart of the process
  bool simulated_time = false;   // retries follow an injected ManualScheduler
  bool ordered_per_key = true;   // same partitionkey → handled in publish order within a group
  bool broker = false;           // crosses process boundaries
  bool history = false;          // keeps events after delivery: StartFrom::earliest reads them
  /// Records other clients write reach subscribers as bytes; one that is not
  /// an envelope is dead-lettered at once (decode_error, its bytes kept).
  /// Memory carries Envelope objects, never bytes: no foreign producer reaches it.
  bool foreign_bytes = false;
  /// A delivery that ended without an outcome (its consumer process died)
  /// counts as an attempt, so an event that kills every consumer is
  /// dead-lettered after max_attempts deliveries instead of looping.
  bool crash_counts_as_attempt = false;
  /// metrics() counts retried and dead_lettered. False for a decorator
  /// (OutboxBus) whose transport below decides retries and counts them in
  /// its own metrics (docs/design-notes.md, the conformance suite section).
  bool retry_metrics = true;
  /// publish refuses an event id it took before (OutboxBus: the store holds
  /// each id once); elsewhere the same event published twice is delivered
  /// twice, as a redelivery would be.
  bool unique_ids = false;
  /// A group handles an event id once within the dedup window, however many
  /// copies arrive (a routed bus reading a route from two targets: dual
  /// publish); the same event published twice is handled once.
  bool dedups_ids = false;
};

/// What a consumer group still has to handle on one transport: the figures
/// `herald migrate status` shows, and what "drained" means before a target
/// is retired (docs/migration.md, "Cut-over, drain and rollback").
struct GroupBacklog {
  /// The transport can tell (false: it has no backlog hook; the counts are 0).
  bool known = false;
  /// The transport holds something for the group: a queue, committed
  /// offsets, a subscription, dead letters. Events published while a group
  /// does not exist there never reach it.
  bool exists = false;
  /// Published to the group and not yet handled (RabbitMQ: ready messages,
  /// not those a running consumer holds unacked; Kafka: the group's lag).
  std::uint64_t pending = 0;
  /// Failed once, waiting for another run (delay queues, retry topics, timers).
  std::uint64_t retrying = 0;
  /// Dead letters of the group.
  std::uint64_t dead = 0;

  /// Nothing left to handle (dead letters aside: they wait for an operator).
  bool drained() const noexcept { return known && pending == 0 && retrying == 0; }
};

/// Extension attribute that addresses an event to one consumer group: other
/// groups' subscriptions take it off the transport without running their
/// handler. `herald dlq move` sets it, so moving a group's dead letters to a
/// new transport does not hand them to every group there again.
inline constexpr const char* group_extension = "heraldgroup";

/// Keeps a subscription alive; unsubscribes when destroyed or cancelled.
/// Cancelling waits until handlers of this subscription running on other
/// threads have returned.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& other) noexcept : cancel_(std::exchange(other.cancel_, nullptr)) {}
  Subscription& operator=(Subscription&& other) noexcept {
    if (this != &other) {
      cancel();
      cancel_ = std::exchange(other.cancel_, nullptr);
    }
    return *this;
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription() { cancel(); }
  void cancel() {
    if (auto c = std::exchange(cancel_, nullptr)) c();
  }
  bool active() const noexcept { return static_cast<bool>(cancel_); }

 private:
  std::function<void()> cancel_;
};

/// One interface for publishing and subscribing, whatever the transport.
/// All public functions are thread-safe. Handlers run on the transport's own
/// threads (the publisher's thread only with memory's inline dispatch).
///
/// \code
///   auto bus = herald::make_bus("memory://");
///   auto sub = bus->subscribe({.pattern = "order.*", .group = "mailer"},
///                             [](const herald::Envelope& e) { send_mail(e.payload()); });
///   bus->publish(herald::Envelope::make("order.created", {{"id", 42}}));
///   bus->flush(std::chrono::seconds(5));
/// \endcode
class EventBus {
 public:
  virtual ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  /// Blocks until the transport accepted the event (memory: enqueued; RabbitMQ:
  /// publisher confirm; Kafka: delivery report). Fills id, time and source when
  /// empty, the context ids inside a handler, and a traceparent when it has
  /// none (herald/tracing.hpp); emits the send span when a tracer records. Throws ConfigError for a bad
  /// type, DecodeError for oversize data, PublishError/TransportError/
  /// TimeoutError when not accepted, ClosedError after close().
  void publish(const Envelope& event);
  void publish(Envelope&& event);
  /// Publishes many with the transport's pipelining; returns when all are
  /// accepted, throws on the first that is not.
  void publish(std::vector<Envelope> events);

  /// Starts delivering matching events to `handler`. Throws ConfigError for a
  /// bad pattern, group or policy.
  Subscription subscribe(SubscribeSpec spec, Handler handler);

  /// Waits until events published so far are handled or dead-lettered.
  /// Returns false when `timeout` passed first.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
  /// Stops intake and finishes in-flight work. Idempotent; the destructor calls it.
  virtual void close() = 0;

  /// The group's dead letters, oldest first.
  virtual std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit = 100) = 0;
  /// Publishes the group's dead letters (or the one with event id `id`) again,
  /// removing them from the dead-letter store. Returns how many.
  virtual std::size_t replay_dead_letters(const std::string& group,
                                          const std::optional<std::string>& id = {}) = 0;
  /// Drops the group's dead letters. Returns how many.
  virtual std::size_t purge_dead_letters(const std::string& group) = 0;

  /// What `group` still has to handle here, for a subscription to `pattern`
  /// (Kafka reads the topics the pattern maps to; queues ignore it).
  /// Blocks for broker round trips. known=false on a transport without the hook.
  GroupBacklog backlog(const std::string& group, const std::string& pattern = "#");
  /// Takes the group's dead letters (or the one with event id `id`) one at a
  /// time and calls `hand` with each; a letter is removed only after `hand`
  /// returned, so an exception from `hand` (the letter was not accepted
  /// elsewhere) leaves it, and those after it, in place. Letters that cannot
  /// be decoded stay. Returns how many were handed over. Throws ConfigError
  /// on a transport that cannot do it.
  std::size_t hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                     const std::function<void(const DeadLetter&)>& hand);

  virtual Features features() const = 0;
  Metrics& metrics() const noexcept { return *metrics_; }
  const DecodeOptions& decode_options() const noexcept { return decode_; }

 private:
  // Every bus is an ext::Transport (only it may construct one), so that
  // publish() and subscribe() check here, once for all transports, and then
  // call its hooks.
  friend class ext::Transport;
  EventBus(std::shared_ptr<Metrics> metrics, DecodeOptions decode, std::string default_source);

  void prepare(Envelope& event) const;
  // features().name, read once: messaging.system of this bus's spans.
  const std::string& system_name() const;
  std::shared_ptr<Metrics> metrics_;
  DecodeOptions decode_;
  std::string default_source_;
  mutable std::once_flag system_once_;
  mutable std::string system_;
};

/// Moves `group`'s dead letters (or the one with event id `id`) from `from`
/// to `to`, each published there addressed to the group alone
/// (group_extension) and removed from `from` only after `to` accepted it: at
/// least once, so an interrupted move may leave a letter on both sides (an
/// idempotent consumer applies it once). Throws NotFoundError when the group
/// does not exist on `to` (its events would go nowhere, or, on Kafka, be
/// skipped by its first subscription). Returns how many moved.
std::size_t move_dead_letters(EventBus& from, EventBus& to, const std::string& group,
                              const std::optional<std::string>& id = {}, const std::string& pattern = "#");

}  // namespace herald
