#pragma once
// For event store authors: the registry open_event_store looks schemes up
// in, and the row mapping every store shares so that an Envelope round-trips
// exactly whatever the database. Applications do not need this header.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "herald/event_store.hpp"
#include "herald/idempotency_store.hpp"

namespace herald {

struct StoreFactories {
  std::function<std::shared_ptr<EventStore>(std::string_view url)> event_store;
  std::function<std::shared_ptr<IdempotencyStore>(std::string_view url, const IdempotencyStoreOptions&)>
      idempotency_store;
};

/// Registers the factories for `scheme` ("sqlite", "postgresql"). Store
/// adapters call this from a static initializer; the last one wins.
void register_store(const std::string& scheme, StoreFactories factories);
std::vector<std::string> registered_stores();

/// A store URL split up. Accepts `scheme:...` without "//" (`sqlite::memory:`).
struct StoreUrl {
  std::string scheme;
  /// Everything between the scheme's ':' and the '?'.
  std::string rest;
  /// Query options, percent-decoded.
  std::map<std::string, std::string> query;
  static StoreUrl parse(std::string_view url);
};

/// Stamps and checks the event as EventBus::publish does (ext::prepare_event
/// with `options`' source and limits), then sets an empty partitionkey to
/// the aggregate id. Throws ConfigError / DecodeError.
void prepare_for_append(Envelope& event, const AppendOptions& options = {});

/// The key whose events are delivered in order: "aggregatetype:aggregateid"
/// when the event names an aggregate, else its partitionkey, else "" (none).
std::string ordering_key(const Envelope& event);

/// The envelope attributes other than `data`, as a JSON object (the
/// `metadata` column).
std::string encode_metadata(const Envelope& event);
/// The envelope back from the `metadata` and `payload` columns. Throws
/// StoreError when the metadata is not herald's.
Envelope decode_stored(std::string_view metadata, std::string_view payload);

/// Cursors are opaque to callers; stores make them from positions.
std::string make_cursor(std::int64_t position);
/// Throws ConfigError for a cursor make_cursor did not produce.
std::int64_t parse_cursor(std::string_view cursor);

/// Microseconds since the Unix epoch, the stores' integer time.
inline std::int64_t to_micros(Timestamp t) noexcept { return t.time_since_epoch().count(); }
inline Timestamp from_micros(std::int64_t us) noexcept { return Timestamp(std::chrono::microseconds(us)); }

}  // namespace herald
