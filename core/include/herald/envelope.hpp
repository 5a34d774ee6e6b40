#pragma once
// The event envelope: CloudEvents 1.0 attributes plus herald's extensions.

#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace herald {

using Clock = std::chrono::system_clock;
using Timestamp = std::chrono::time_point<Clock, std::chrono::microseconds>;

/// One domain event as it travels between services.
///
/// `data` holds the payload as JSON text, so that transports pass it through
/// without parsing it; `payload()` parses it on demand. Empty extension
/// strings mean "absent".
///
/// \code
///   auto e = herald::Envelope::make("order.created", {{"order_id", "42"}});
///   e.partitionkey = "42";
///   bus.publish(e);
/// \endcode
struct Envelope {
  // CloudEvents 1.0 context attributes
  std::string specversion = "1.0";
  std::string id;
  std::string type;
  std::string source;
  Timestamp time{};
  std::string subject;
  std::string datacontenttype = "application/json";
  std::string dataschema;
  std::string data;  // JSON text of the payload, "" when the event has none

  // herald extensions (CloudEvents extension attributes)
  int dataversion = 1;
  std::string partitionkey;
  std::string aggregatetype;
  std::string aggregateid;
  std::string correlationid;
  std::string causationid;
  std::string traceparent;
  std::string tracestate;  // W3C tracestate, beside traceparent (herald/tracing.hpp)
  std::string actor;

  /// Other extension attributes, kept so foreign events survive a round trip.
  std::map<std::string, nlohmann::json> extensions;

  /// A new event with a UUIDv7 id, the current time and `payload` as data.
  /// `source` empty (the default): publish and append fill in the bus's
  /// configured source (BusConfig::source, HERALD_SOURCE), "herald" unless
  /// configured. Until then the event is not valid on its own (encode it
  /// only after publish, or give a source).
  static Envelope make(std::string type, const nlohmann::json& payload = nullptr, std::string source = {});

  /// The payload parsed (null when absent). Throws DecodeError on bad JSON.
  nlohmann::json payload() const;
  /// Replaces the payload.
  void set_payload(const nlohmann::json& payload);

  bool operator==(const Envelope&) const = default;
};

/// The current time at microsecond precision.
Timestamp now_micros();

/// RFC 3339 UTC with microseconds: 2026-11-23T09:30:00.123456Z.
std::string format_time(Timestamp t);
/// Parses RFC 3339 (any offset, any fraction); throws DecodeError naming "time",
/// also for an instant outside [min_time(), max_time()].
Timestamp parse_time(std::string_view text);
/// The range of times an envelope can carry: years 0000 to 9999 (RFC 3339).
Timestamp min_time() noexcept;
Timestamp max_time() noexcept;

/// A new UUIDv7 (RFC 9562): time-ordered, random in the low bits.
std::string uuid_v7();

}  // namespace herald
