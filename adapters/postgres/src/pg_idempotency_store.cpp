// Idempotency marks in PostgreSQL, apart from the handler's writes (for those
// together see idempotent.cpp).

#include <atomic>

#include "herald/ext/store.hpp"
#include "herald/postgres/outbox.hpp"
#include "pg_store.hpp"

namespace herald::postgres {

const char* const mark_sql =
    "INSERT INTO herald_idempotency(group_name, event_id, state, updated_at, expires_at) "
    "VALUES ($1, $2, $3, " HERALD_PG_TS("$4") ", " HERALD_PG_TS("$5") ") "
    "ON CONFLICT (group_name, event_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
    "expires_at = excluded.expires_at WHERE herald_idempotency.expires_at <= excluded.updated_at RETURNING 1";

namespace {

class PgIdempotencyStore final : public IdempotencyStore {
 public:
  PgIdempotencyStore(ConnectionConfig config, IdempotencyStoreOptions options)
      : options_(std::move(options)), pool_(std::move(config)) {
    pool_.with("open", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec("SELECT pg_advisory_xact_lock(hashtext('herald create schema'))");
      tx.exec("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(pool_.config().options.schema));
      tx.commit();
      pqxx::work migrate(c);
      ensure_schema(migrate);
      migrate.commit();
    });
  }

  IdempotencyClaim claim(const std::string& group, const std::string& event_id) override {
    auto now = static_cast<long long>(to_micros(now_()));
    return pool_.with("idempotency claim", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      if (++calls_ % 1024 == 0)
        tx.exec_params("DELETE FROM herald_idempotency WHERE expires_at <= " HERALD_PG_TS("$1"), now);
      auto r = tx.exec_params(mark_sql, group, event_id, "claimed", now, now + micros(options_.claim_timeout));
      IdempotencyClaim result = IdempotencyClaim::acquired;
      if (r.empty()) {
        auto s = tx.exec_params("SELECT state FROM herald_idempotency WHERE group_name = $1 AND event_id = $2",
                                group, event_id);
        result = !s.empty() && s[0][0].as<std::string>() == "done" ? IdempotencyClaim::done : IdempotencyClaim::busy;
      }
      tx.commit();
      return result;
    });
  }

  void complete(const std::string& group, const std::string& event_id) override {
    auto now = static_cast<long long>(to_micros(now_()));
    pool_.with("idempotency complete", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params("INSERT INTO herald_idempotency(group_name, event_id, state, updated_at, expires_at) "
                     "VALUES ($1, $2, 'done', " HERALD_PG_TS("$3") ", " HERALD_PG_TS("$4") ") "
                     "ON CONFLICT (group_name, event_id) DO UPDATE SET state = 'done', "
                     "updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                     group, event_id, now, now + micros(options_.ttl));
      tx.commit();
    });
  }

  void release(const std::string& group, const std::string& event_id) override {
    pool_.with("idempotency release", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params("DELETE FROM herald_idempotency WHERE group_name = $1 AND event_id = $2 AND state = 'claimed'",
                     group, event_id);
      tx.commit();
    });
  }

 private:
  static long long micros(std::chrono::milliseconds d) { return static_cast<long long>(d.count()) * 1000; }
  Timestamp now_() const { return options_.clock ? options_.clock() : now_micros(); }

  IdempotencyStoreOptions options_;
  Pool pool_;
  std::atomic<std::uint64_t> calls_{0};
};

}  // namespace

std::shared_ptr<IdempotencyStore> make_idempotency_store(ConnectionConfig config, const IdempotencyStoreOptions& options) {
  return std::make_shared<PgIdempotencyStore>(std::move(config), options);
}

}  // namespace herald::postgres
