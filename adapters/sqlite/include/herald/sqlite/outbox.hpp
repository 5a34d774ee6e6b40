#pragma once
// Appending events inside the application's own SQLite transaction, so that
// a business write and its events commit or roll back together.

#include <cstdint>
#include <string_view>
#include <vector>

#include "herald/envelope.hpp"
#include "herald/event_store.hpp"

struct sqlite3;  // the application's own connection handle (sqlite3.h)

namespace herald::sqlite {

/// Creates or migrates herald's tables on `db` (the event store does this
/// when opened; call it when the application opens the database first).
/// Throws StoreError.
void ensure_schema(sqlite3* db);

/// Inserts `events` into the outbox table through `db`, inside the
/// transaction open on it (or in one of its own when none is open): they
/// commit with it, or vanish with its rollback. Fills id, time, source and
/// the context ids like EventBus::publish, and an empty partitionkey with the
/// aggregate id (the transports keep order per partition key). Returns the positions. Blocks on
/// the database; use `db` from one thread at a time, as SQLite requires.
/// Throws ConfigError/DecodeError for an invalid event, StoreError when the
/// insert fails (the transaction is then the caller's to roll back).
///
/// \code
///   exec(db, "BEGIN IMMEDIATE");
///   exec(db, "UPDATE orders SET status = 'paid' WHERE id = 42");
///   herald::sqlite::append(db, herald::Envelope::make("order.paid", {{"order_id", "42"}}));
///   exec(db, "COMMIT");   // the relay delivers order.paid only now
/// \endcode
std::vector<std::int64_t> append(sqlite3* db, std::vector<Envelope>& events, std::string_view default_source = "herald");
/// The same with the source and data limit of `options` (an OutboxBus's: its
/// source, its transport's max_data_bytes).
std::vector<std::int64_t> append(sqlite3* db, std::vector<Envelope>& events, const AppendOptions& options);
std::int64_t append(sqlite3* db, Envelope& event, std::string_view default_source = "herald");
std::int64_t append(sqlite3* db, Envelope&& event, std::string_view default_source = "herald");

}  // namespace herald::sqlite
