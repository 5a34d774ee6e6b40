#include "herald/outbox.hpp"

#include <algorithm>

#include "herald/errors.hpp"

namespace herald {

OutboxBus::OutboxBus(std::shared_ptr<EventStore> store, std::unique_ptr<EventBus> inner, OutboxBusOptions options,
                     std::shared_ptr<Metrics> metrics, std::string default_source)
    : Transport(std::move(metrics), inner ? inner->decode_options() : DecodeOptions{}, default_source),
      store_(std::move(store)),
      inner_(std::move(inner)),
      append_{.source = std::move(default_source), .limits = decode_options(), .targets = options.targets_of},
      check_(std::move(options.check)) {
  if (!store_) throw ConfigError("outbox: store is null");
  if (!inner_) throw ConfigError("outbox: transport bus is null");
  for (std::size_t i = 0; i < options.targets.size(); ++i) {
    const auto& t = options.targets[i];
    if (t.name.empty() || !t.bus) throw ConfigError("outbox: a delivery target has no name or no bus");
    for (std::size_t j = 0; j < i; ++j)
      if (options.targets[j].name == t.name) throw ConfigError("outbox: delivery target '" + t.name + "' is given twice");
  }
  for (const auto& t : options.targets) {
    TargetRelay r{t.name, nullptr};
    if (options.run_relay) {
      RelayOptions relay = options.relay;
      relay.target = t.name;
      // Each relay holds its own lease; one owner name each.
      if (!relay.owner.empty()) relay.owner += "/" + t.name;
      r.relay = std::make_unique<Relay>(*store_, *t.bus, std::move(relay));
    }
    target_relays_.push_back(std::move(r));
  }
  if (options.run_relay) relay_ = std::make_unique<Relay>(*store_, *inner_, std::move(options.relay));
}

OutboxBus::~OutboxBus() { close(); }

void OutboxBus::do_publish(ext::Outgoing events) {
  {
    std::lock_guard lock(close_mutex_);
    if (closed_) throw ClosedError("outbox: publish after close");
  }
  std::vector<Envelope> rows;
  rows.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) rows.push_back(events.take(i));
  if (check_) check_(rows);
  // The store stamps and checks as this bus does: its source, its limits.
  store_->append(rows, append_);
  if (relay_) relay_->wake();
  for (const auto& t : target_relays_)
    if (t.relay) t.relay->wake();
}

Relay* OutboxBus::relay(std::string_view name) const noexcept {
  for (const auto& t : target_relays_)
    if (t.name == name) return t.relay.get();
  return nullptr;
}

std::vector<std::string> OutboxBus::targets() const {
  std::vector<std::string> out;
  for (const auto& t : target_relays_) out.push_back(t.name);
  return out;
}

Subscription OutboxBus::do_subscribe(const SubscribeSpec& spec, Invoker invoke) {
  // The transport runs the handler through `invoke` (this bus's metrics and
  // context) and retries or dead-letters it when the attempt failed.
  return inner_->subscribe(spec, [invoke = std::move(invoke)](const Envelope& event) {
    Attempt attempt = invoke(event);
    // The handler's own exception goes on, so the transport below sees its
    // type (a non-retriable error is dead-lettered at once there too).
    if (!attempt.ok && attempt.exception) std::rethrow_exception(attempt.exception);
    if (!attempt.ok) throw Error(ErrorCode::handler, attempt.error, attempt.retriable);
  });
}

bool OutboxBus::flush(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds::zero(), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                           deadline - std::chrono::steady_clock::now()));
  };
  if (relay_) {
    // Each relay in turn until none has anything pending: the main one (the
    // event rows), then each target's.
    std::vector<std::pair<std::string, Relay*>> relays{{std::string(), relay_.get()}};
    for (const auto& t : target_relays_) relays.emplace_back(t.name, t.relay.get());
    for (bool idle = false; !idle;) {
      idle = true;
      for (const auto& [target, relay] : relays) {
        if (store_->count_pending(target) == 0) continue;
        idle = false;
        if (left() == std::chrono::milliseconds::zero()) return false;
        relay->wait_for_pass(std::min(left(), std::chrono::milliseconds(1000)));
      }
    }
  }
  return inner_->flush(left());
}

void OutboxBus::close() {
  {
    std::lock_guard lock(close_mutex_);
    if (closed_) return;
    closed_ = true;
  }
  for (auto& t : target_relays_)
    if (t.relay) t.relay->stop();
  if (relay_) relay_->stop();
  inner_->close();
}

std::vector<DeadLetter> OutboxBus::dead_letters(const std::string& group, std::size_t limit) {
  return inner_->dead_letters(group, limit);
}

std::size_t OutboxBus::replay_dead_letters(const std::string& group, const std::optional<std::string>& id) {
  return inner_->replay_dead_letters(group, id);
}

std::size_t OutboxBus::purge_dead_letters(const std::string& group) { return inner_->purge_dead_letters(group); }

Features OutboxBus::features() const {
  Features f = inner_->features();
  f.name = "outbox+" + f.name;
  f.persistent = true;
  // Retries are the transport's, counted in transport().metrics(); this
  // bus's metrics count appends (published) and handler runs.
  f.retry_metrics = false;
  f.unique_ids = true;  // the store's event id is unique
  return f;
}

std::unique_ptr<OutboxBus> make_outbox_bus(const BusConfig& transport, std::string_view store_url,
                                           OutboxBusOptions options) {
  auto store = open_event_store(store_url);
  BusConfig behind = transport;
  behind.outbox.clear();  // this outbox is the one in front
  return std::make_unique<OutboxBus>(std::move(store), make_bus(behind), std::move(options), nullptr,
                                     transport.source);
}

}  // namespace herald
