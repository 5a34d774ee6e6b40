// The inbox pattern: the idempotency mark and the handler's writes in one
// PostgreSQL transaction.

#include "herald/postgres/idempotent.hpp"

#include <atomic>

#include "herald/context.hpp"
#include "herald/ext/store.hpp"
#include "pg_store.hpp"

namespace herald::postgres {

Handler idempotent(std::string_view url, std::string group, TransactionalHandler handler, IdempotentOptions options,
                   IdempotencyStoreOptions store_options) {
  if (!handler) throw ConfigError("postgres::idempotent: handler is empty");
  if (store_options.ttl <= std::chrono::milliseconds::zero())
    throw ConfigError("postgres::idempotent: ttl must be positive");
  struct State {
    explicit State(ConnectionConfig c) : pool(std::move(c)) {}
    Pool pool;
    std::atomic<std::uint64_t> calls{0};
  };
  auto state = std::make_shared<State>(read_config(url));
  return [state, given = std::move(group), handler = std::move(handler), options = std::move(options),
          store_options = std::move(store_options)](const Envelope& event) {
    std::string resolved;
    const std::string& group = given.empty() ? (resolved = group_or_current(given, "postgres::idempotent")) : given;
    auto now = static_cast<long long>(to_micros(store_options.clock ? store_options.clock() : now_micros()));
    auto expires = now + static_cast<long long>(store_options.ttl.count()) * 1000;
    bool duplicate = state->pool.with("idempotent handler", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      if (++state->calls % 1024 == 0)
        tx.exec_params("DELETE FROM herald_idempotency WHERE expires_at <= " HERALD_PG_TS("$1"), now);
      // Written as done at once: it commits only with the handler's writes.
      if (tx.exec_params(mark_sql, group, event.id, "done", now, expires).empty()) return true;
      handler(tx, event);  // throws: the transaction aborts, mark and writes together
      tx.commit();
      return false;
    });
    if (duplicate && options.on_duplicate) options.on_duplicate(event);
  };
}

}  // namespace herald::postgres
