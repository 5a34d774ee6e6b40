#pragma once
// Connections to PostgreSQL and the mapping of libpqxx errors onto herald's.
// Private to herald::postgres.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "herald/errors.hpp"
#include "herald/postgres/options.hpp"

// Times are timestamptz in the tables and microseconds since the epoch in
// herald; these convert exactly (integer arithmetic, no float seconds).
#define HERALD_PG_US(col) "(extract(epoch from " col ") * 1000000)::bigint"
#define HERALD_PG_TS(param) "(timestamptz 'epoch' + (" param ")::bigint * interval '1 microsecond')"

namespace herald::postgres {

/// HERALD_PG_TS of a value, for a statement sent with its values in it.
inline std::string pg_ts(std::int64_t micros) {
  std::string sql = HERALD_PG_TS("@");
  return sql.replace(sql.find('@'), 1, std::to_string(micros));
}

struct ConnectionConfig {
  /// The URL for libpq, herald's own query options removed.
  std::string conninfo;
  PostgresOptions options;
  /// The URL with the password hidden, for messages.
  std::string describe;
};

/// Reads a postgresql:// or postgres:// URL. ConfigError for bad options.
ConnectionConfig read_config(std::string_view url);

/// Runs `f`, turning libpqxx exceptions into StoreError (retriable for a lost
/// connection, a serialization failure or a deadlock) named after `what`.
template <class F>
auto guarded(std::string_view what, F&& f) -> decltype(f());

/// Opens a connection with search_path set to the configured schema.
std::unique_ptr<pqxx::connection> connect(const ConnectionConfig& config);

/// At most options.pool connections, opened on demand; a connection that
/// broke is dropped rather than reused. Thread-safe.
class Pool {
 public:
  explicit Pool(ConnectionConfig config);
  const ConnectionConfig& config() const noexcept { return config_; }

  /// Runs `f(pqxx::connection&)` on a free connection (waiting for one when
  /// all are busy), inside guarded().
  template <class F>
  auto with(std::string_view what, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    auto conn = take(what);
    struct Return {
      Pool& pool;
      std::unique_ptr<pqxx::connection>& conn;
      ~Return() { pool.give(std::move(conn)); }
    } give_back{*this, conn};
    return guarded(what, [&] { return f(*conn); });
  }

 private:
  std::unique_ptr<pqxx::connection> take(std::string_view what);
  void give(std::unique_ptr<pqxx::connection> conn) noexcept;

  ConnectionConfig config_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;
};

/// PostgreSQL array literals for `$1::text[]` / `$1::bigint[]` parameters
/// (libpqxx 6 has no array parameters). `nulls[i]` writes NULL.
std::string text_array(const std::vector<std::string>& values, const std::vector<bool>& nulls = {});
std::string bigint_array(const std::vector<std::int64_t>& values);
std::string bool_array(const std::vector<bool>& values);

// --- implementation ----------------------------------------------------------

[[noreturn]] void throw_store_error(std::string_view what, const pqxx::sql_error& e);
[[noreturn]] void throw_lost(std::string_view what, const std::exception& e);

template <class F>
auto guarded(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    throw_lost(what, e);
  } catch (const pqxx::in_doubt_error& e) {
    throw_lost(what, e);
  } catch (const pqxx::sql_error& e) {
    throw_store_error(what, e);
  } catch (const pqxx::failure& e) {
    throw StoreError("postgres: " + std::string(what) + ": " + e.what());
  } catch (const pqxx::usage_error& e) {
    throw StoreError("postgres: " + std::string(what) + ": " + e.what());
  }
}

}  // namespace herald::postgres
