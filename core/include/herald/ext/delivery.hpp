#pragma once
// For transport authors: the delivery core. After every handler run core
// decides what becomes of the event — acknowledge it, retry it after a delay,
// or dead-letter it with a reason — and counts it; a transport only carries
// the verdict out (ack, park and redeliver, move to its dead-letter storage).
// What earlier runs left travels with the event as one DeliveryState, in one
// header vocabulary on every broker, so any member in any process continues
// the count.
//
// \code
//   DeliveryState state = DeliveryState::read_headers(lookup);   // from the message
//   Attempt outcome = invoke(event);
//   Verdict v = decide(policy, state, outcome, metrics.consumer(event.type, group));
//   switch (v.kind) {
//     case Verdict::Kind::ack:         ack(); break;
//     case Verdict::Kind::retry:       redeliver_after(v.delay, state); break;
//     case Verdict::Kind::dead_letter: store(dead_letter_for(event, group, state, v.reason)); break;
//   }
// \endcode

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "herald/dead_letter.hpp"
#include "herald/ext/transport.hpp"
#include "herald/metrics.hpp"
#include "herald/retry.hpp"

namespace herald {

/// Why an event will not be handled any more. The wire names are stable:
/// they are stored in dead-letter records and headers.
enum class DeadLetterReason : std::uint8_t {
  max_attempts,   // the policy's attempts are spent
  decode_error,   // the bytes are not an event herald can read (or write again)
  non_retriable,  // the handler threw an error that says retrying cannot help
  closed,         // the bus closed while the event waited for a retry
  no_subscriber,  // no active subscription of the group accepts its type
  forward_error,  // the retry or dead-letter destination refused it for good
  schema_error,   // its data does not validate against the catalog's schema (herald/catalog.hpp)
};

/// "max_attempts", "decode_error", ...
std::string_view wire_name(DeadLetterReason reason) noexcept;
/// The reason a wire name stands for; nullopt for a name herald does not know.
std::optional<DeadLetterReason> dead_letter_reason_from(std::string_view name) noexcept;

/// Header names of the delivery state (AMQP headers, Kafka record headers).
namespace delivery_header {
inline constexpr std::string_view prefix = "x-herald-";
inline constexpr std::string_view attempts = "x-herald-attempts";          // failed handler runs so far
inline constexpr std::string_view redeliveries = "x-herald-redeliveries";  // deliveries lost without an outcome
inline constexpr std::string_view first_failure = "x-herald-first-failure";
inline constexpr std::string_view last_error = "x-herald-last-error";
inline constexpr std::string_view not_before = "x-herald-not-before";  // Unix epoch ms
inline constexpr std::string_view origin_topic = "x-herald-origin-topic";
inline constexpr std::string_view origin_partition = "x-herald-origin-partition";
inline constexpr std::string_view origin_offset = "x-herald-origin-offset";
}  // namespace delivery_header

/// What earlier deliveries of one event left behind.
struct DeliveryState {
  int attempts = 0;      // failed handler runs, across hops
  int redeliveries = 0;  // deliveries that ended without an outcome (a crash, a lost connection)
  Timestamp first_failure{};
  std::string last_error;
  std::int64_t not_before_ms = 0;  // earliest next run, Unix epoch ms; 0: at once
  // Where the event first arrived, for the dead-letter record.
  std::string origin_topic;
  int origin_partition = -1;
  std::int64_t origin_offset = -1;

  /// last_error is cut to this many bytes in headers (brokers bound header size).
  static constexpr std::size_t max_error_bytes = 4096;

  using Put = std::function<void(std::string_view name, std::string value)>;
  using Get = std::function<std::optional<std::string>(std::string_view name)>;
  /// Calls `put` once per header that carries something.
  void write_headers(const Put& put) const;
  /// Reads the state back; absent or damaged values read as their defaults
  /// (a damaged header must not stop the event). Also reads the names
  /// herald's Kafka transport wrote before they were unified
  /// (`x-herald-retry-*`), so records already in retry topics go on.
  static DeliveryState read_headers(const Get& get);
  /// Whether `name` is delivery bookkeeping (this state's or a dead-letter
  /// record's), to leave out when a message is copied as a new event.
  static bool is_bookkeeping(std::string_view name) noexcept;
  /// Whether any failure or redelivery was recorded.
  bool fresh() const noexcept { return attempts == 0 && redeliveries == 0; }
};

/// What a transport does with an event after a handler run.
struct Verdict {
  enum class Kind : std::uint8_t { ack, retry, dead_letter };
  Kind kind = Kind::ack;
  std::chrono::milliseconds delay{0};                       // retry only
  DeadLetterReason reason = DeadLetterReason::max_attempts;  // dead_letter only

  static Verdict ack() noexcept { return {}; }
  static Verdict retry(std::chrono::milliseconds delay) noexcept { return {Kind::retry, delay, {}}; }
  static Verdict dead(DeadLetterReason reason) noexcept { return {Kind::dead_letter, {}, reason}; }
  bool operator==(const Verdict&) const = default;
};

/// The decision after a handler run. Records the failure in `state`
/// (attempts, first failure, last error) and counts `retried` or
/// `dead_lettered` in `counters` (the invoker counted the run itself).
/// A non-retriable outcome is dead-lettered at once (an outcome with
/// schema_error set as a refusal, reason schema_error: no handler ran); retries end when
/// attempts plus redeliveries reach the policy's max_attempts, or with
/// `closing` (the bus is closing: nothing may wait for a retry).
Verdict decide(const RetryPolicy& policy, DeliveryState& state, const Attempt& outcome, ConsumerCounters& counters,
               bool closing = false);

/// Whether earlier deliveries already spent the policy (a message that keeps
/// crashing its consumer): dead-letter it without running the handler.
bool exhausted(const RetryPolicy& policy, const DeliveryState& state) noexcept;

/// A verdict reached without (another) handler run: the event cannot be
/// decoded, nobody subscribes to it, the bus closes, the policy is spent.
/// Records `why` as the last error when given and counts the dead letter.
Verdict refuse(DeadLetterReason reason, DeliveryState& state, ConsumerCounters& counters, std::string why = {});

/// The dead-letter record for a dead_letter verdict. Counts nothing
/// (decide() or refuse() did).
DeadLetter dead_letter_for(const Envelope& event, const std::string& group, const DeliveryState& state,
                           DeadLetterReason reason);

}  // namespace herald
