#pragma once
// Reading and writing herald_events rows. Private to herald::sqlite.

#include <vector>

#include "herald/event_store.hpp"
#include "sqlite_db.hpp"

namespace herald::sqlite {

/// The INSERT for insert_events.
extern const char* const insert_sql;
/// Columns read_row expects, in order.
#define HERALD_SQLITE_ROW_COLUMNS \
  "position, metadata, payload, created_at, delivered_at, delivery_attempts, next_attempt_at, dead_letter, last_error, " \
  "skipped_at"

/// The same columns for a target's deliveries: herald_deliveries `d`
/// joined with herald_events `e`.
#define HERALD_SQLITE_DELIVERY_COLUMNS                                                                         \
  "e.position, e.metadata, e.payload, e.created_at, d.delivered_at, d.delivery_attempts, d.next_attempt_at, " \
  "d.dead_letter, d.last_error, d.skipped_at"

/// Prepares (id, time, source, context) and inserts `events` with `insert`
/// (a Statement of insert_sql), and a delivery per target of each
/// (AppendOptions::targets); returns their positions.
/// The caller holds the transaction.
std::vector<std::int64_t> insert_events(sqlite3* db, Statement& insert, std::vector<Envelope>& events,
                                        const AppendOptions& options);

/// The row at the statement's current step (columns HERALD_SQLITE_ROW_COLUMNS).
StoredEvent read_row(const Statement& s);
/// Every row the statement still steps to.
std::vector<StoredEvent> read_rows(Statement& s);

/// A row as read, its event not decoded yet. A claim copies its rows' text
/// under the store's lock and decodes them after releasing it: the decode
/// is as much of a claim as the query, and needs no connection.
struct UndecodedRow {
  StoredEvent row;  // every field but the event
  std::string metadata;
  std::string payload;
};
/// Every row the statement still steps to, undecoded.
std::vector<UndecodedRow> read_undecoded_rows(Statement& s);
/// The rows with their events decoded.
std::vector<StoredEvent> decode_rows(std::vector<UndecodedRow>&& rows);

}  // namespace herald::sqlite
