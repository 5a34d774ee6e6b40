#pragma once
// Appending events inside the application's own PostgreSQL transaction, so
// that a business write and its events commit or roll back together.

#include <cstdint>
#include <string_view>
#include <vector>

#include "herald/envelope.hpp"
#include "herald/event_store.hpp"

namespace pqxx {
class transaction_base;  // pqxx::work and friends (the application's own transaction)
}

namespace herald::postgres {

/// Creates or migrates herald's tables in the schema `tx` sees first on its
/// search_path (the store does this when opened). Throws StoreError.
void ensure_schema(pqxx::transaction_base& tx);

/// Inserts `events` into the outbox table through `tx`: they commit with it
/// or vanish with its abort. Fills id, time, source and the context ids like
/// EventBus::publish, and an empty partitionkey with the aggregate id (the
/// transports keep order per partition key). Returns the positions. The table is found through the
/// connection's search_path (set it to the store's `schema` option when that
/// is not public). Throws ConfigError/DecodeError for an invalid event,
/// StoreError when the insert fails (the transaction is then aborted, as
/// PostgreSQL does).
///
/// \code
///   pqxx::work tx(connection);
///   tx.exec_params("UPDATE orders SET status = 'paid' WHERE id = $1", 42);
///   herald::postgres::append(tx, herald::Envelope::make("order.paid", {{"order_id", "42"}}));
///   tx.commit();   // the relay delivers order.paid only now
/// \endcode
std::vector<std::int64_t> append(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                 std::string_view default_source = "herald");
/// The same with the source and data limit of `options` (an OutboxBus's: its
/// source, its transport's max_data_bytes).
std::vector<std::int64_t> append(pqxx::transaction_base& tx, std::vector<Envelope>& events,
                                 const AppendOptions& options);
std::int64_t append(pqxx::transaction_base& tx, Envelope& event, std::string_view default_source = "herald");
std::int64_t append(pqxx::transaction_base& tx, Envelope&& event, std::string_view default_source = "herald");

}  // namespace herald::postgres
