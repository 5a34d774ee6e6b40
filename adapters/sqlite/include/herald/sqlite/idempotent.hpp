#pragma once
// The inbox pattern on SQLite: the (group, event id) mark and the handler's
// own writes commit in one transaction, so a redelivered event has no second
// effect even when the process dies between the two.

#include <functional>
#include <string>

#include "herald/bus.hpp"
#include "herald/idempotency.hpp"
#include "herald/idempotency_store.hpp"

struct sqlite3;

namespace herald::sqlite {

/// A handler that writes through the connection it is given, inside the
/// transaction the wrapper opened. It must not BEGIN or COMMIT itself
/// (SAVEPOINTs are fine); it fails by throwing.
using TransactionalHandler = std::function<void(sqlite3* db, const Envelope& event)>;

/// Wraps `handler`: begins an IMMEDIATE transaction on `db`, inserts the
/// mark (already there and unexpired: a duplicate, skipped and rolled back),
/// runs the handler, commits. A throwing handler rolls back mark and writes
/// together and the bus retries it. Calls on one `db` are serialised (a
/// connection holds one transaction at a time), so `db` must not be used by
/// other threads meanwhile. herald's tables must exist (ensure_schema).
///
/// \code
///   bus->subscribe({.pattern = "order.paid", .group = "loyalty"},
///       herald::sqlite::idempotent(db, [](sqlite3* tx, const herald::Envelope& e) {
///         add_points(tx, e.payload().at("customer"), 10);   // same transaction as the mark
///       }));
/// \endcode
/// The marks are kept per subscription group (an empty `group` means the
/// subscription's; pass one only to share marks across subscriptions).
Handler idempotent(sqlite3* db, std::string group, TransactionalHandler handler, IdempotentOptions options = {},
                   IdempotencyStoreOptions store_options = {});
inline Handler idempotent(sqlite3* db, TransactionalHandler handler, IdempotentOptions options = {},
                          IdempotencyStoreOptions store_options = {}) {
  return idempotent(db, std::string(), std::move(handler), std::move(options), std::move(store_options));
}

}  // namespace herald::sqlite
