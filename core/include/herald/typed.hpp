#pragma once
// Typed events: a struct with a type name, a version and nlohmann JSON
// conversion is published and subscribed to as itself.

#include <concepts>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "herald/bus.hpp"
#include "herald/envelope.hpp"
#include "herald/errors.hpp"

namespace herald {

/// \code
///   struct OrderCreated {
///     static constexpr std::string_view event_type = "order.created";
///     static constexpr int event_version = 2;
///     std::string order_id; double total = 0;
///     std::string partition_key() const { return order_id; }   // optional
///   };
///   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OrderCreated, order_id, total)
/// \endcode
template <class T>
concept TypedEvent = requires {
  { T::event_type } -> std::convertible_to<std::string_view>;
  { T::event_version } -> std::convertible_to<int>;
} && requires(const T& t, const nlohmann::json& j) {
  { nlohmann::json(t) };
  { j.get<T>() } -> std::same_as<T>;
};

/// Functions lifting a payload from version v to v+1, per event type.
/// Thread-safe.
class Upcasters {
 public:
  using Fn = std::function<nlohmann::json(nlohmann::json)>;
  /// Registers the step from `from_version` to `from_version + 1`.
  void add(std::string type, int from_version, Fn fn);
  /// Lifts `payload` from `version` to `target` step by step. Throws
  /// DecodeError("dataversion") when a step is missing or version > target.
  nlohmann::json lift(const std::string& type, int version, nlohmann::json payload, int target) const;
  /// The process-wide registry typed subscriptions use by default.
  static Upcasters& global();

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, Fn> steps_;
};

/// Envelope attributes a typed publish may set.
struct EventOptions {
  std::string partitionkey;  // default: T::partition_key() when it exists
  std::string subject;
  std::string aggregatetype;
  std::string aggregateid;
  std::string actor;
  std::string source;
};

template <TypedEvent T>
Envelope to_envelope(const T& event, const EventOptions& options = {}) {
  Envelope e = Envelope::make(std::string(T::event_type), nlohmann::json(event),
                              options.source.empty() ? std::string() : options.source);
  e.dataversion = T::event_version;
  e.partitionkey = options.partitionkey;
  if constexpr (requires { { event.partition_key() } -> std::convertible_to<std::string>; }) {
    if (e.partitionkey.empty()) e.partitionkey = event.partition_key();
  }
  e.subject = options.subject;
  e.aggregatetype = options.aggregatetype;
  e.aggregateid = options.aggregateid;
  e.actor = options.actor;
  return e;
}

/// The payload as T, lifted to T::event_version first. Throws DecodeError.
template <TypedEvent T>
T from_envelope(const Envelope& event, const Upcasters& upcasters = Upcasters::global()) {
  nlohmann::json payload = event.payload();
  if (event.dataversion != T::event_version)
    payload = upcasters.lift(event.type, event.dataversion, std::move(payload), T::event_version);
  try {
    return payload.get<T>();
  } catch (const nlohmann::json::exception& ex) {
    throw DecodeError("data", "cannot read " + event.type + " v" + std::to_string(T::event_version) +
                                  " from data: " + ex.what());
  }
}

template <TypedEvent T>
void publish(EventBus& bus, const T& event, const EventOptions& options = {}) {
  bus.publish(to_envelope(event, options));
}

/// Subscribes `handler` (taking `const T&`, or `const T&, const Envelope&`) to
/// T's type in `group`. spec.pattern defaults to T::event_type.
template <TypedEvent T, class F>
Subscription subscribe(EventBus& bus, std::string group, F handler, SubscribeSpec spec = {},
                       const Upcasters& upcasters = Upcasters::global()) {
  static_assert(std::is_invocable_v<F&, const T&> || std::is_invocable_v<F&, const T&, const Envelope&>,
                "handler must take (const T&) or (const T&, const Envelope&)");
  if (spec.pattern.empty()) spec.pattern = std::string(T::event_type);
  spec.group = std::move(group);
  return bus.subscribe(std::move(spec), [h = std::move(handler), &upcasters](const Envelope& e) mutable {
    if (e.type != T::event_type) return;  // a wider pattern: other types are not ours
    T value = from_envelope<T>(e, upcasters);
    if constexpr (std::is_invocable_v<F&, const T&, const Envelope&>)
      h(value, e);
    else
      h(value);
  });
}

}  // namespace herald
