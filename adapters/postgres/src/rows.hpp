#pragma once
// Reading and writing herald_events rows. Private to herald::postgres.

#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "herald/event_store.hpp"
#include "pg_connection.hpp"

/// Columns read_row expects, in order: the event's from `ev` (a prefix:
/// "" or "e."), its delivery state from `st`, `delivered` the delivered time.
#define HERALD_PG_COLUMNS(ev, st, delivered)                                                                   \
  ev "position, " ev "metadata::text, " ev "payload::text, " HERALD_PG_US(ev "created_at") ", "                \
  HERALD_PG_US(delivered) ", " st "delivery_attempts, " HERALD_PG_US(st "next_attempt_at") ", " st "dead_letter, " \
  st "last_error, " HERALD_PG_US(st "skipped_at")

/// Of herald_events rows read by that name. Since schema 6 a delivered row's
/// time is in its row only if the row was written for a failure first; else
/// in the herald_delivered row that holds it.
#define HERALD_PG_ROW_COLUMNS                                                                               \
  HERALD_PG_COLUMNS("", "", "coalesce(delivered_at, (SELECT l.at FROM herald_delivered l WHERE l.target = '' " \
                            "AND l.span @> herald_events.position AND herald_events.position = ANY(l.positions) LIMIT 1))")

/// Of rows known to be pending (claimed, dead), herald_events `e` with the
/// state of `st` (herald_events `e` or herald_deliveries `d`): no time to
/// look up.
#define HERALD_PG_PENDING_COLUMNS(st) HERALD_PG_COLUMNS("e.", st, "NULL::timestamptz")

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
