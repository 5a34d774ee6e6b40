// Idempotency marks in SQLite, apart from the handler's writes (for those
// together see idempotent.cpp).

#include <mutex>

#include "herald/ext/store.hpp"
#include "sqlite_store.hpp"

namespace herald::sqlite {

namespace {

class SqliteIdempotencyStore final : public IdempotencyStore {
 public:
  SqliteIdempotencyStore(const SqliteOptions& options, IdempotencyStoreOptions store_options)
      : options_(std::move(store_options)),
        db_(open_database(options)),
        // A new claim, or taking over an expired mark (a completed one past
        // its TTL, or a claim whose worker died).
        claim_(db_.get(),
               "INSERT INTO herald_idempotency(group_name, event_id, state, updated_at, expires_at) "
               "VALUES (?1, ?2, 'claimed', ?3, ?4) ON CONFLICT(group_name, event_id) DO UPDATE SET "
               "state = 'claimed', updated_at = excluded.updated_at, expires_at = excluded.expires_at "
               "WHERE herald_idempotency.expires_at <= excluded.updated_at",
               true),
        state_(db_.get(), "SELECT state FROM herald_idempotency WHERE group_name = ?1 AND event_id = ?2", true),
        complete_(db_.get(),
                  "INSERT INTO herald_idempotency(group_name, event_id, state, updated_at, expires_at) "
                  "VALUES (?1, ?2, 'done', ?3, ?4) ON CONFLICT(group_name, event_id) DO UPDATE SET "
                  "state = 'done', updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                  true),
        release_(db_.get(),
                 "DELETE FROM herald_idempotency WHERE group_name = ?1 AND event_id = ?2 AND state = 'claimed'", true),
        sweep_(db_.get(), "DELETE FROM herald_idempotency WHERE expires_at <= ?1", true) {}

  IdempotencyClaim claim(const std::string& group, const std::string& event_id) override {
    std::int64_t now = to_micros(now_());
    std::lock_guard lock(mutex_);
    Transaction tx(db_.get());
    if (++calls_ % 1024 == 0) sweep_.bind(1, now).run();
    claim_.bind(1, group).bind(2, event_id).bind(3, now).bind(4, now + micros(options_.claim_timeout));
    claim_.run();
    IdempotencyClaim result = IdempotencyClaim::acquired;
    if (sqlite3_changes(db_.get()) == 0) {
      ResetGuard reset(state_);
      state_.bind(1, group).bind(2, event_id);
      result = state_.step() && state_.text(0) == "done" ? IdempotencyClaim::done : IdempotencyClaim::busy;
    }
    tx.commit();
    return result;
  }

  void complete(const std::string& group, const std::string& event_id) override {
    std::int64_t now = to_micros(now_());
    std::lock_guard lock(mutex_);
    complete_.bind(1, group).bind(2, event_id).bind(3, now).bind(4, now + micros(options_.ttl));
    complete_.run();
  }

  void release(const std::string& group, const std::string& event_id) override {
    std::lock_guard lock(mutex_);
    release_.bind(1, group).bind(2, event_id);
    release_.run();
  }

 private:
  static std::int64_t micros(std::chrono::milliseconds d) { return d.count() * 1000; }
  Timestamp now_() const { return options_.clock ? options_.clock() : now_micros(); }

  IdempotencyStoreOptions options_;
  std::mutex mutex_;
  DbHandle db_;
  Statement claim_, state_, complete_, release_, sweep_;
  std::uint64_t calls_ = 0;
};

}  // namespace

std::shared_ptr<IdempotencyStore> make_idempotency_store(const SqliteOptions& options,
                                                         const IdempotencyStoreOptions& store_options) {
  return std::make_shared<SqliteIdempotencyStore>(options, store_options);
}

}  // namespace herald::sqlite
