#pragma once
// The dead-letter record every transport and the CLI share.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/envelope.hpp"

namespace herald {

/// An event that will not be handled any more, and why.
struct DeadLetter {
  Envelope event;          // the event (empty id when the body could not be decoded)
  std::string raw_body;    // the original bytes, kept when they could not be decoded
  std::string group;       // consumer group that gave up
  std::string reason;      // "max_attempts", "decode_error", ...
  int attempts = 0;        // handler runs
  Timestamp first_failure{};
  Timestamp last_failure{};
  std::string last_error;  // what the last attempt threw
  // Where the transport knows them:
  std::string routing_key;
  std::string topic;
  int partition = -1;
  std::int64_t offset = -1;

  nlohmann::json to_json() const;
  static DeadLetter from_json(const nlohmann::json& j);
  /// Flat string headers (`x-herald-dl-*`) for AMQP/Kafka headers; no event.
  std::map<std::string, std::string> to_headers() const;
  /// Fills the record's fields (not event/raw_body) from headers.
  static DeadLetter from_headers(const std::map<std::string, std::string>& headers);
};

inline constexpr const char* dead_letter_reason_max_attempts = "max_attempts";
inline constexpr const char* dead_letter_reason_decode = "decode_error";

/// In-process dead-letter store (the memory transport's DLQ). Thread-safe.
class DeadLetterStore {
 public:
  void add(DeadLetter letter);
  std::vector<DeadLetter> list(const std::string& group, std::size_t limit = SIZE_MAX) const;
  /// Removes and returns the group's letters (all, or the one with event id `id`).
  std::vector<DeadLetter> take(const std::string& group, const std::optional<std::string>& id = {});
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::vector<DeadLetter> letters_;
};

}  // namespace herald
