#pragma once
// Options of the PostgreSQL event store
// (postgresql://user:pass@host:5432/db?schema=orders&pool=4).

#include <string>

namespace herald::postgres {

/// Query options herald reads from a postgresql:// URL; every other query
/// option (sslmode, connect_timeout, application_name, ...) goes to libpq.
struct PostgresOptions {
  /// Schema holding herald's tables (created when missing); connections set
  /// their search_path to it. Applications appending in their own
  /// transaction use the same search_path.
  std::string schema = "public";
  /// Connections the store opens at most (each call uses one at a time).
  int pool = 4;
};

}  // namespace herald::postgres
