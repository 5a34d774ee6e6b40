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

/// The same columns for a target's deliveries: herald_deliveries `d`
/// joined with herald_events `e`.
#define HERALD_PG_DELIVERY_COLUMNS                                                                                 \
  "e.position, e.metadata::text, e.payload::text, " HERALD_PG_US("e.created_at") ", " HERALD_PG_US("d.delivered_at") \
  ", d.delivery_attempts, " HERALD_PG_US("d.next_attempt_at") ", d.dead_letter, d.last_error, " HERALD_PG_US("d.skipped_at")

namespace herald::postgres {

/// How insert_events sends a single event's INSERT: as a prepared statement
/// only on herald's own connections, whose search_path never changes (a
/// statement prepared on an application's connection would keep the schema
/// of its first use).
enum class Statements { unnamed, prepared };

/// Prepares (id, time, source, context) and inserts `events` through `tx`;
/// and a delivery per target of each (AppendOptions::targets); returns their
/// positions. One round trip whatever the number of events (two with targets).
std::vector<std::int64_t> insert_events(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                        const AppendOptions& options, Statements statements = Statements::unnamed);

/// The row (columns HERALD_PG_ROW_COLUMNS).
StoredEvent read_row(const pqxx::row& row);
/// Every row of `result`, in its order.
std::vector<StoredEvent> read_rows(const pqxx::result& result);

}  // namespace herald::postgres
