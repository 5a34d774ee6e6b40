#pragma once
// Reading and writing herald_events rows. Private to herald::postgres.

#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "herald/event_store.hpp"
#include "pg_connection.hpp"

/// Columns read_row expects, in order.
#define HERALD_PG_ROW_COLUMNS                                                                                    \
  "position, metadata::text, payload::text, " HERALD_PG_US("created_at") ", " HERALD_PG_US("delivered_at") \
  ", delivery_attempts, " HERALD_PG_US("next_attempt_at") ", dead_letter, last_error, " HERALD_PG_US("skipped_at")

namespace herald::postgres {

/// Prepares (id, time, source, context) and inserts `events` through `tx`;
/// returns their positions. One round trip whatever the number of events.
std::vector<std::int64_t> insert_events(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                        const AppendOptions& options);

/// The row (columns HERALD_PG_ROW_COLUMNS).
StoredEvent read_row(const pqxx::row& row);
/// Every row of `result`, in its order.
std::vector<StoredEvent> read_rows(const pqxx::result& result);

}  // namespace herald::postgres
