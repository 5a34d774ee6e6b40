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

/// The delivery targets of each event (AppendOptions::targets; empty lists
/// without it), after prepare_for_append. Throws ConfigError for an empty or
/// repeated target name.
std::vector<std::vector<std::string>> targets_of(const std::vector<Envelope>& events, const AppendOptions& options);

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

// --- paging: every store's timeline() and scan() follow the same rules -------

/// The largest page timeline() hands out.
inline constexpr std::size_t max_timeline_page = 10'000;

/// One timeline() page to read: the aggregate's rows with position > `after`
/// in position order, at most `rows` (one more than the page, which tells
/// whether another page follows).
struct TimelineQuery {
  std::int64_t after = 0;
  std::size_t rows = 0;
  std::size_t limit = 0;
  /// The page from what was read: at most `limit` rows, and a cursor when
  /// there were more.
  EventPage page(std::vector<StoredEvent> read) const;
};
/// Checks timeline()'s arguments (ConfigError) and says what to read.
TimelineQuery timeline_query(const std::string& aggregate_type, const std::string& aggregate_id,
                             const std::string& cursor, std::size_t limit);

/// One scan() step to read: rows with read_after < position <=
/// filter.to_position, of type `exact_type` unless it is empty (a pattern is
/// left to the filter), of the filter's aggregate type and id where given,
/// in position order, at most `limit`.
struct ScanQuery {
  EventFilter filter;
  /// The caller's `after`, where the scan stands before this step.
  std::int64_t after = 0;
  std::int64_t read_after = 0;
  std::string exact_type;
  std::size_t limit = 0;
  /// The step's result from the rows read; `last_position` (the store's
  /// highest position) is asked only when the scan has reached the end.
  ScanResult result(std::vector<StoredEvent> read, const std::function<std::int64_t()>& last_position) const;
};
/// Checks scan()'s arguments (ConfigError) and says what to read.
ScanQuery scan_query(const EventFilter& filter, std::int64_t after, std::size_t limit);

/// Microseconds since the Unix epoch, the stores' integer time.
inline std::int64_t to_micros(Timestamp t) noexcept { return t.time_since_epoch().count(); }
inline Timestamp from_micros(std::int64_t us) noexcept { return Timestamp(std::chrono::microseconds(us)); }

}  // namespace herald
