#pragma once
// For transport authors (and decorators such as OutboxBus): the base class
// a transport derives from, the two hooks it implements, and the registry
// make_bus looks schemes up in. Applications do not need this header; they
// use EventBus (herald/bus.hpp).
//
// \code
//   class CarrierPigeonBus final : public herald::ext::Transport {
//    public:
//     explicit CarrierPigeonBus(const herald::BusConfig& c) : Transport(c.metrics, c.decode, c.source) {}
//     // flush, close, dead_letters, replay_dead_letters, purge_dead_letters, features ...
//    protected:
//     void do_publish(herald::ext::Outgoing events) override;   // send bytes, wait for acceptance
//     herald::Subscription do_subscribe(const herald::SubscribeSpec& spec, herald::Invoker invoke) override;
//   };
//   // in a static initializer:
//   herald::register_transport("pigeon", [](const herald::BusConfig& c) {
//     return std::make_unique<CarrierPigeonBus>(c);
//   });
// \endcode

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/bus.hpp"
#include "herald/config.hpp"

namespace herald {

namespace ext {
struct SettleTrace;  // core's, private: what the settle span needs (decide())
}

/// Outcome of one handler run, as core reports it to a transport.
struct Attempt {
  bool ok = true;
  std::string error;  // what the handler threw
  /// False when the handler threw a herald::Error whose retriable() is
  /// false (a DecodeError from a typed handler, a PermanentError): running it
  /// again cannot help, so core dead-letters the event at once.
  bool retriable = true;
  /// The exception itself, for decorators that hand it on (OutboxBus).
  std::exception_ptr exception;
  /// The event failed the catalog's schema on receipt (herald/catalog.hpp):
  /// the handler did not run, and core dead-letters it at once with reason
  /// schema_error (decide()).
  bool schema_error = false;
  /// The handler asked for the next attempt no sooner than this
  /// (RetryLaterError); decide() waits the longer of it and the policy's delay.
  std::chrono::milliseconds not_before{0};
  /// Set by core when a tracer records: decide() emits the settle span
  /// under the run's process span. Null otherwise.
  std::shared_ptr<const ext::SettleTrace> trace;
  /// Set by core's invoker when the run failed and warnings are logged:
  /// the event, for the line decide() writes about a retry. Null otherwise.
  std::shared_ptr<const LogEvent> failed_event;
};

/// Runs a handler once with context and metrics; never throws.
using Invoker = std::function<Attempt(const Envelope&)>;

using TransportFactory = std::function<std::unique_ptr<EventBus>(const BusConfig&)>;

/// Registers `factory` for `scheme` (without "://"). Adapters call this from
/// a static initializer; the last registration wins.
void register_transport(const std::string& scheme, TransportFactory factory);
std::vector<std::string> registered_transports();

namespace ext {

/// The events of one publish() call, checked and stamped, in publish order:
/// one event or a batch. A view, valid until the hook returns.
///
/// owned(): the bus made them (publish of an rvalue or of a vector) and the
/// transport may move from them (own()). Otherwise they are the caller's
/// const event, published by reference so that a transport that can hand
/// it on without keeping it (memory's inline dispatch) never copies it.
class Outgoing {
 public:
  /// The caller's event, read only.
  static Outgoing borrowed(const Envelope& event) noexcept {
    // Never written through: own() refuses a borrowed view.
    return Outgoing(const_cast<Envelope*>(&event), 1, false);
  }
  /// Events the bus owns, to be moved from.
  static Outgoing owned(Envelope& event) noexcept { return Outgoing(&event, 1, true); }
  static Outgoing owned(std::vector<Envelope>& events) noexcept {
    return Outgoing(events.data(), events.size(), true);
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const Envelope& operator[](std::size_t i) const noexcept { return first_[i]; }
  const Envelope* begin() const noexcept { return first_; }
  const Envelope* end() const noexcept { return first_ + size_; }

  /// Whether own() may be called.
  bool owned() const noexcept { return owned_; }
  /// The i-th event to move from; only when owned().
  Envelope& own(std::size_t i) const noexcept { return first_[i]; }
  /// The i-th event for keeping: moved out when owned, else copied.
  Envelope take(std::size_t i) const {
    if (owned_) return std::move(first_[i]);
    return first_[i];
  }

 private:
  Outgoing(Envelope* first, std::size_t size, bool owned) noexcept : first_(first), size_(size), owned_(owned) {}
  Envelope* first_;
  std::size_t size_;
  bool owned_;
};

/// What a transport knows of one delivery beyond the event, for the
/// process span core emits around the handler (OpenTelemetry messaging
/// attributes). Empty or negative fields are left out.
struct DeliveryInfo {
  std::string_view destination;  ///< topic or queue; default: the event type
  std::string_view kafka_key;
  std::int64_t kafka_offset = -1;
  int partition = -1;
  std::string_view routing_key;  ///< RabbitMQ
};

/// Makes `info` what the invoker reports for handler runs on this thread
/// for the life of the scope (nests). A transport sets it around invoke();
/// it costs nothing when no tracer records.
class DeliveryScope {
 public:
  explicit DeliveryScope(const DeliveryInfo& info) noexcept;
  ~DeliveryScope();
  DeliveryScope(const DeliveryScope&) = delete;
  DeliveryScope& operator=(const DeliveryScope&) = delete;
  /// The innermost scope's info on this thread, or nullptr.
  static const DeliveryInfo* current() noexcept;

 private:
  const DeliveryInfo* previous_;
};

/// The base of every transport. EventBus's public functions check and stamp
/// what users hand them (publish) and wrap handlers with context and metrics
/// (subscribe) in one place; then they call these hooks.
class Transport : public EventBus {
 protected:
  Transport(std::shared_ptr<Metrics> metrics, DecodeOptions decode, std::string default_source)
      : EventBus(std::move(metrics), decode, std::move(default_source)) {}

  /// Hands validated events to the transport; returns when it accepted them
  /// all (memory: enqueued or handled inline; brokers: confirmed), throws on
  /// the first it did not accept. Never called with no event.
  virtual void do_publish(Outgoing events) = 0;
  /// Starts a validated subscription (group set, ephemeral named, policy
  /// checked); `invoke` runs the user's handler.
  virtual Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) = 0;
  /// What the group has left here (EventBus::backlog). Default: known=false.
  virtual GroupBacklog do_backlog(const std::string& group, const std::string& pattern);
  /// EventBus::hand_over_dead_letters. Default: ConfigError (not supported).
  virtual std::size_t do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                                const std::function<void(const DeadLetter&)>& hand);

 private:
  friend class herald::EventBus;  // its publish()/subscribe() call the hooks
};

}  // namespace ext
}  // namespace herald
