#pragma once
// The inbox pattern on PostgreSQL: the (group, event id) mark and the
// handler's own writes commit in one transaction, so a redelivered event has
// no second effect even when the process dies between the two.

#include <functional>
#include <string>
#include <string_view>

#include "herald/bus.hpp"
#include "herald/idempotency.hpp"
#include "herald/idempotency_store.hpp"

namespace pqxx {
class transaction_base;
}

namespace herald::postgres {

/// A handler that writes through the transaction it is given. It must not
/// commit or abort it; it fails by throwing.
using TransactionalHandler = std::function<void(pqxx::transaction_base& tx, const Envelope& event)>;

/// Wraps `handler`: opens a transaction on a connection of its own to `url`
/// (a small pool, one per concurrent handler), inserts the mark (already
/// there and unexpired: a duplicate, skipped), runs the handler, commits. A
/// throwing handler aborts mark and writes together and the bus retries it;
/// so does a lost connection. Connections are opened on first use.
/// herald's tables must exist (open the store once, or ensure_schema).
///
/// \code
///   bus->subscribe({.pattern = "order.paid", .group = "loyalty", .concurrency = 4},
///       herald::postgres::idempotent(url, [](pqxx::transaction_base& tx, const herald::Envelope& e) {
///         tx.exec_params("UPDATE customers SET points = points + 10 WHERE id = $1",
///                        e.payload().at("customer").get<std::string>());
///       }));
/// \endcode
/// The marks are kept per subscription group (an empty `group` means the
/// subscription's; pass one only to share marks across subscriptions).
Handler idempotent(std::string_view url, std::string group, TransactionalHandler handler,
                   IdempotentOptions options = {}, IdempotencyStoreOptions store_options = {});
inline Handler idempotent(std::string_view url, TransactionalHandler handler, IdempotentOptions options = {},
                          IdempotencyStoreOptions store_options = {}) {
  return idempotent(url, std::string(), std::move(handler), std::move(options), std::move(store_options));
}

}  // namespace herald::postgres
