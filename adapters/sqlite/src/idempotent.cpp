// The inbox pattern: the idempotency mark and the handler's writes in one
// SQLite transaction.

#include <map>
#include <mutex>

#include "herald/context.hpp"
#include "herald/errors.hpp"
#include "herald/ext/store.hpp"
#include "herald/sqlite/idempotent.hpp"
#include "sqlite_db.hpp"

namespace herald::sqlite {

namespace {

// A connection holds one transaction at a time, so every wrapper on the same
// connection (one per group, say) takes the same lock. Entries stay for the
// life of the process: one mutex per connection ever wrapped.
std::shared_ptr<std::mutex> connection_lock(sqlite3* db) {
  static std::mutex registry_mutex;
  static std::map<sqlite3*, std::shared_ptr<std::mutex>> locks;
  std::lock_guard lock(registry_mutex);
  auto& m = locks[db];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

// The mark is written as done at once: it commits only with the handler's
// writes, so "claimed but unfinished" never shows to other connections.
constexpr const char* mark_sql =
    "INSERT INTO herald_idempotency(group_name, event_id, state, updated_at, expires_at) "
    "VALUES (?1, ?2, 'done', ?3, ?4) ON CONFLICT(group_name, event_id) DO UPDATE SET "
    "state = 'done', updated_at = excluded.updated_at, expires_at = excluded.expires_at "
    "WHERE herald_idempotency.expires_at <= excluded.updated_at";

}  // namespace

Handler idempotent(sqlite3* db, std::string group, TransactionalHandler handler, IdempotentOptions options,
                   IdempotencyStoreOptions store_options) {
  if (!db) throw ConfigError("sqlite::idempotent: connection is null");
  if (!handler) throw ConfigError("sqlite::idempotent: handler is empty");
  if (store_options.ttl <= std::chrono::milliseconds::zero())
    throw ConfigError("sqlite::idempotent: ttl must be positive");
  struct State {
    std::shared_ptr<std::mutex> lock;
    std::uint64_t calls = 0;
  };
  auto state = std::make_shared<State>();
  state->lock = connection_lock(db);
  return [db, state, given = std::move(group), handler = std::move(handler), options = std::move(options),
          store_options = std::move(store_options)](const Envelope& event) {
    std::string resolved;
    const std::string& group = given.empty() ? (resolved = group_or_current(given, "sqlite::idempotent")) : given;
    std::int64_t now = to_micros(store_options.clock ? store_options.clock() : now_micros());
    std::lock_guard lock(*state->lock);
    Transaction tx(db);
    if (++state->calls % 1024 == 0) {
      Statement sweep(db, "DELETE FROM herald_idempotency WHERE expires_at <= ?1");
      sweep.bind(1, now).run();
    }
    Statement mark(db, mark_sql);
    mark.bind(1, group).bind(2, event.id).bind(3, now).bind(4, now + store_options.ttl.count() * 1000).run();
    if (sqlite3_changes(db) == 0) {
      // Handled before (and committed): a duplicate. Nothing was written.
      if (options.on_duplicate) options.on_duplicate(event);
      return;
    }
    handler(db, event);  // throws: the transaction rolls back, mark and writes together
    tx.commit();
  };
}

}  // namespace herald::sqlite
