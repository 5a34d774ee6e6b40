#pragma once
// Opening SQLite databases for the stores. Private to herald::sqlite.

#include <memory>
#include <string_view>

#include "herald/event_store.hpp"
#include "herald/idempotency_store.hpp"
#include "herald/sqlite/options.hpp"
#include "sqlite_db.hpp"

namespace herald::sqlite {

/// Options from a sqlite: URL; ConfigError for an unknown option or a missing path.
SqliteOptions read_options(std::string_view url);
/// Opens the database with herald's pragmas and schema.
DbHandle open_database(const SqliteOptions& options);

std::shared_ptr<EventStore> make_event_store(const SqliteOptions& options);
std::shared_ptr<IdempotencyStore> make_idempotency_store(const SqliteOptions& options,
                                                         const IdempotencyStoreOptions& store_options);

}  // namespace herald::sqlite
