#pragma once
// The transactional outbox for code without a transaction of its own: a bus
// whose publish appends to an event store, and a relay that delivers the
// rows to the real transport.
//
// Code that has a transaction appends in it with herald/sqlite/outbox.hpp
// (`sqlite3*`) or herald/postgres/outbox.hpp (`pqxx::work`), so that the
// business write and its events commit or roll back together.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/event_store.hpp"
#include "herald/ext/transport.hpp"
#include "herald/relay.hpp"

namespace herald {

class RoutedBus;

/// A publish target whose deliveries the outbox keeps and relays apart from
/// the others (dual publish: OutboxBusOptions::targets).
struct OutboxTarget {
  /// Stored with each delivery and shown by `herald outbox status`: it must
  /// hold no secret (deliver_per_target uses the redacted target URL).
  std::string name;
  /// Where its relay publishes, as is: the target's own bus (for a routed
  /// transport, RoutedBus::target(url)). Not owned; it must outlive the
  /// OutboxBus, which it does when it belongs to the transport bus.
  EventBus* bus = nullptr;
};

struct OutboxBusOptions {
  /// Run a Relay inside this bus. Off when a separate `herald outbox relay`
  /// process delivers.
  bool run_relay = true;
  RelayOptions relay = RelayOptions::from_env();
  /// Called with each batch before it is appended; throws to refuse it (a
  /// routed transport refuses a type no route takes). Null: no check.
  std::function<void(const std::vector<Envelope>&)> check;
  /// Dual publish: targets that each keep their own delivery state for the
  /// events `targets_of` gives them, so that one target's outage neither
  /// blocks nor replays another. With run_relay, each gets a Relay of its
  /// own (`relay` with RelayOptions::target set) that publishes to its bus.
  std::vector<OutboxTarget> targets;
  /// The names (of `targets`) that get a delivery of their own of an event,
  /// stored with it at append (AppendOptions::targets); an empty list: the
  /// event goes to the transport bus as a whole, by the main relay. Null: no
  /// event has targets.
  std::function<std::vector<std::string>(const Envelope&)> targets_of;
};

/// Fills `options.targets` and `targets_of` from the routes of `routed` (the
/// OutboxBus's transport): the events of a route with more than one publish
/// target get one delivery per target, named by its redacted URL; the others
/// go through the routed bus as before. With `store`, a target some route
/// still names that has pending or dead deliveries in it (a dual route
/// since cut over to one target) gets its relay too, so they are not
/// stranded. make_bus
/// does this for a config with `outbox` and routes. Throws ConfigError when
/// two target URLs redact to the same name.
void deliver_per_target(OutboxBusOptions& options, const RoutedBus& routed, EventStore* store = nullptr);

/// An EventBus whose publish() returns once the events are committed to the
/// store (durable: they survive a crash of the process) and whose
/// subscribe() passes through to the transport bus. Its relay delivers the
/// stored events to the transport. Thread-safe like every EventBus; use it
/// as one (it is a transport in front of a transport, hence its base).
///
/// \code
///   auto bus = herald::make_outbox_bus(herald::BusConfig::from_env(),
///                                      "sqlite:///var/lib/orders/events.db");
///   bus->subscribe({.pattern = "order.*", .group = "mailer"}, send_mail);
///   bus->publish(herald::Envelope::make("order.created", {{"order_id", "42"}}));
/// \endcode
class OutboxBus final : public ext::Transport {
 public:
  /// `inner` is the transport the relay delivers to and subscriptions use.
  /// `metrics` null: a Metrics of its own (the inner bus keeps its own too).
  OutboxBus(std::shared_ptr<EventStore> store, std::unique_ptr<EventBus> inner, OutboxBusOptions options = {},
            std::shared_ptr<Metrics> metrics = nullptr, std::string default_source = "herald");
  ~OutboxBus() override;

  /// Wakes the relays and waits until the store has no pending row nor
  /// pending delivery of any target, then flushes the transport. Returns false on timeout (for instance while
  /// rows wait for a retry). Without a relay of its own only the transport
  /// is flushed.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Stops the relays, then closes the transport.
  void close() override;

  /// The transport's dead letters (handler failures); the store's own dead
  /// rows (publish failures) are store().dead_letters().
  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit = 100) override;
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id = {}) override;
  std::size_t purge_dead_letters(const std::string& group) override;
  /// The transport's features, persistent, named "outbox+<transport>";
  /// retry_metrics false: retries and dead letters are counted in
  /// transport().metrics(), appends and handler runs in metrics().
  Features features() const override;

  /// What publish() appends with (source, data limit, delivery targets):
  /// pass it to herald::sqlite::append / herald::postgres::append to append
  /// in your own transaction as this bus would.
  const AppendOptions& append_options() const noexcept { return append_; }
  EventStore& store() const noexcept { return *store_; }
  EventBus& transport() const noexcept { return *inner_; }
  /// The in-process relay, or nullptr without one.
  Relay* relay() const noexcept { return relay_.get(); }
  /// The in-process relay of target `name` (OutboxBusOptions::targets), or
  /// nullptr.
  Relay* relay(std::string_view name) const noexcept;
  /// The names of OutboxBusOptions::targets, in their order.
  std::vector<std::string> targets() const;

 private:
  void do_publish(ext::Outgoing events) override;
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override;
  /// The transport's: rows not yet relayed are no group's yet
  /// (store().count_pending()).
  GroupBacklog do_backlog(const std::string& group, const std::string& pattern) override {
    return inner_->backlog(group, pattern);
  }
  std::size_t do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) override {
    return inner_->hand_over_dead_letters(group, id, hand);
  }

  std::shared_ptr<EventStore> store_;
  std::unique_ptr<EventBus> inner_;
  const AppendOptions append_;
  const std::function<void(const std::vector<Envelope>&)> check_;
  struct TargetRelay {
    std::string name;
    std::unique_ptr<Relay> relay;  // null without run_relay
  };
  // Declared after what they use: destroyed first.
  std::unique_ptr<Relay> relay_;
  std::vector<TargetRelay> target_relays_;
  std::mutex close_mutex_;
  bool closed_ = false;
};

/// The transport from `transport` (make_bus) behind an outbox in the store
/// at `store_url` (open_event_store). Shares the transport's source.
std::unique_ptr<OutboxBus> make_outbox_bus(const BusConfig& transport, std::string_view store_url,
                                           OutboxBusOptions options = {});

}  // namespace herald
