#pragma once
// The PostgreSQL stores. Private to herald::postgres.

#include <memory>

#include "herald/event_store.hpp"
#include "herald/idempotency_store.hpp"
#include "pg_connection.hpp"

namespace herald::postgres {

std::shared_ptr<EventStore> make_event_store(ConnectionConfig config);
std::shared_ptr<IdempotencyStore> make_idempotency_store(ConnectionConfig config, const IdempotencyStoreOptions& options);

/// SQL of the idempotency mark written with the handler's own writes: a new
/// mark, or taking over an expired one. Returns a row when the caller may
/// run the handler. $1 group, $2 event id, $3 state, $4 now µs, $5 expiry µs.
extern const char* const mark_sql;

}  // namespace herald::postgres
