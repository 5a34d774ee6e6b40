#pragma once
// POST /v1/events: authentication, rate, deduplication and publishing
// around parse_ingress (herald/ingress.hpp has the options and the order
// of the checks).

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

#include "admin_routes.hpp"
#include "herald/bus.hpp"
#include "herald/ingress.hpp"

namespace herald::admin {

class Ingress {
 public:
  /// `bus` must outlive the Ingress. Throws ConfigError for options that
  /// cannot work (no authentication without allow_unauthenticated, a bad
  /// secret, a negative rate).
  Ingress(EventBus& bus, IngressOptions options);

  /// Answers one POST /v1/events. Never throws; safe from several threads
  /// (requests are published one at a time, so that duplicates sent at once
  /// are published once).
  AdminReply handle(const AdminRequest& request) noexcept;

  std::uint64_t max_body_bytes() const noexcept { return options_.max_body_bytes; }

 private:
  using SteadyClock = std::chrono::steady_clock;

  std::optional<AdminReply> refuse_unauthenticated(const AdminRequest& request) const;
  std::optional<AdminReply> refuse_over_rate();
  AdminReply publish(const AdminRequest& request);
  void forget_expired(SteadyClock::time_point now);

  EventBus& bus_;
  const IngressOptions options_;
  const bool durable_;  // an OutboxBus: publish() returns once stored
  std::shared_ptr<const Catalog> catalog_;

  std::mutex mutex_;
  double tokens_;
  SteadyClock::time_point refilled_;
  // (source, id) of the events published within the window, oldest first.
  std::deque<std::pair<SteadyClock::time_point, std::string>> seen_order_;
  std::unordered_set<std::string> seen_;
};

}  // namespace herald::admin
