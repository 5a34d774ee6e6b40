#pragma once
// A bus over several transports, chosen per event type by a route table.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/config.hpp"
#include "herald/ext/transport.hpp"
#include "herald/idempotency.hpp"
#include "herald/route.hpp"

namespace herald {

/// An EventBus in front of one bus per target URL of a route table
/// (herald/route.hpp). Thread-safe like every EventBus.
///
/// - publish() sends each event to the publish targets of its type's route
///   (the first route that matches); a type no route matches is refused with
///   a ConfigError. A batch is split per target, order kept within each.
/// - subscribe() subscribes on each target that some route reads from whose
///   events the pattern can match: types the route matches and no earlier
///   route takes. An event received on a target is handed to the handler only
///   when its type's route reads from that target. `concurrency` applies per
///   target.
/// - dead letters, replay and purge act on every target routes read from;
///   a dead letter is replayed into the target that holds it.
/// - features() are the weakest of the targets'.
///
/// make_bus builds one when BusConfig::routes is not empty.
///
/// \code
///   herald::BusConfig config = herald::BusConfig::from_file("herald.json");   // with "routes"
///   auto bus = herald::make_bus(config);
///   bus->publish(herald::Envelope::make("order.created", {{"id", 42}}));     // to order.#'s targets
/// \endcode
class RoutedBus final : public ext::Transport {
 public:
  /// One transport, named by its URL as the routes spell it.
  struct Target {
    std::string url;
    std::unique_ptr<EventBus> bus;
  };

  /// `targets` holds one bus for each URL the routes name, and no other.
  /// `marks` remembers which events each group applied (null: in memory,
  /// for an hour). Throws ConfigError for a bad table (validate_routes) or
  /// missing, duplicate or unnamed targets.
  RoutedBus(std::vector<Route> routes, std::vector<Target> targets, std::shared_ptr<Metrics> metrics = nullptr,
            DecodeOptions decode = {}, std::string default_source = "herald",
            std::shared_ptr<IdempotencyStore> marks = nullptr);
  ~RoutedBus() override;

  /// Flushes every target within `timeout`, again while a round of flushes
  /// saw handlers publish more (a handler on one target may publish to another).
  bool flush(std::chrono::milliseconds timeout) override;
  /// Closes every target. Idempotent.
  void close() override;

  /// The group's dead letters on every target routes read from, oldest
  /// (first failure) first.
  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit = 100) override;
  /// Replays on every target routes read from; throws NotFoundError only
  /// when no target knows the group.
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id = {}) override;
  std::size_t purge_dead_letters(const std::string& group) override;
  /// What every target guarantees, named "routed(<target>+<target>…)".
  Features features() const override;

  const std::vector<Route>& routes() const noexcept;
  /// The route of `type` (the first whose pattern matches it), or nullptr.
  const Route* route_for(std::string_view type) const;
  /// The bus of target `url`, spelled as in the routes. Throws NotFoundError.
  EventBus& target(std::string_view url) const;
  /// The targets a subscription to `pattern` reads from, in table order.
  std::vector<std::string> subscribe_targets(std::string_view pattern) const;
  /// Throws ConfigError naming the first event whose type no route matches.
  void check_routed(const std::vector<Envelope>& events) const;

 protected:
  void do_publish(ext::Outgoing events) override;
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override;
  /// The sum over subscribe_targets(pattern); known only when every one of
  /// them knows. One target's figures: target(url).backlog(group, pattern).
  GroupBacklog do_backlog(const std::string& group, const std::string& pattern) override;
  /// Over every target routes read from.
  std::size_t do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) override;

 private:
  struct Table;
  std::shared_ptr<const Table> table_;  // shared with subscriptions' filters
  std::vector<Target> targets_;
  std::shared_ptr<IdempotencyStore> marks_;
  std::mutex close_mutex_;
  bool closed_ = false;
};

/// The routed bus `config.routes` describes: one bus per distinct target URL,
/// each built by make_bus with the config's source, decode limits and
/// scheduler, and metrics of its own whose retries and dead letters the
/// routed bus's metrics include (Metrics::include_verdicts_of), and the
/// config's dedup store. Errors name the route.
std::unique_ptr<RoutedBus> make_routed_bus(const BusConfig& config);

}  // namespace herald
