// The SQLite event store: one connection, serialised by a mutex; WAL mode
// lets other processes (a relay, the CLI) read and write the same file.

#include <algorithm>
#include <mutex>
#include <optional>

#include "checkpointer.hpp"
#include "herald/errors.hpp"
#include "herald/ext/store.hpp"
#include "rows.hpp"
#include "sqlite_store.hpp"

namespace herald::sqlite {

namespace {

// Rows that hold up later rows of their ordering key: failed ones waiting
// for their next attempt, ones claimed by a relay, and dead ones not skipped
// (a dead row overtaken would arrive out of order once retried). The literal
// terms repeat the WHERE of herald_events_held and herald_events_dead so
// SQLite can use those (small) indexes; INDEXED BY makes it: left to choose,
// it read the held rows through herald_events_pending, every pending row
// per claim (22 ms of a 1,000-row claim over 50,000 pending rows; 2.3 ms now).
constexpr const char* claim_sql = R"sql(
WITH blocked AS (
  SELECT ordering_key, min(position) AS first FROM (
    SELECT ordering_key, position FROM herald_events INDEXED BY herald_events_held
    WHERE delivered_at IS NULL AND dead_letter = 0 AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL)
      AND ordering_key <> '' AND (next_attempt_at > ?1 OR lease_until > ?1)
    UNION ALL
    SELECT ordering_key, position FROM herald_events
    WHERE dead_letter = 1 AND skipped_at IS NULL AND ordering_key <> '')
  GROUP BY ordering_key)
SELECT )sql" HERALD_SQLITE_ROW_COLUMNS R"sql( FROM herald_events e
WHERE NOT herald_in_flight(e.position) AND e.delivered_at IS NULL AND e.dead_letter = 0
  AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= ?1)
  AND (e.lease_until IS NULL OR e.lease_until <= ?1)
  AND NOT EXISTS (SELECT 1 FROM blocked k WHERE k.ordering_key = e.ordering_key AND k.first < e.position)
ORDER BY e.position LIMIT ?2
)sql";

// claim_sql for one target's deliveries (?3), the event read from its row.
constexpr const char* claim_delivery_sql = R"sql(
WITH blocked AS (
  SELECT ordering_key, min(position) AS first FROM (
    SELECT ordering_key, position FROM herald_deliveries INDEXED BY herald_deliveries_held
    WHERE target = ?3 AND delivered_at IS NULL AND dead_letter = 0 AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL)
      AND ordering_key <> '' AND (next_attempt_at > ?1 OR lease_until > ?1)
    UNION ALL
    SELECT ordering_key, position FROM herald_deliveries
    WHERE target = ?3 AND dead_letter = 1 AND skipped_at IS NULL AND ordering_key <> '')
  GROUP BY ordering_key)
SELECT )sql" HERALD_SQLITE_DELIVERY_COLUMNS R"sql( FROM herald_deliveries d JOIN herald_events e ON e.position = d.position
WHERE NOT herald_in_flight(d.position) AND d.target = ?3 AND d.delivered_at IS NULL AND d.dead_letter = 0
  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?1)
  AND (d.lease_until IS NULL OR d.lease_until <= ?1)
  AND NOT EXISTS (SELECT 1 FROM blocked k WHERE k.ordering_key = d.ordering_key AND k.first < d.position)
ORDER BY d.position LIMIT ?2
)sql";

// The statements that differ between the event rows and a target's
// deliveries only in the table and the target term.
struct StateSql {
  std::string table;   // herald_events or herald_deliveries
  std::string target;  // "" or " AND target = ?9" (bound by bind_target)
};
StateSql state_sql(const std::string& target) {
  if (target.empty()) return {"herald_events", ""};
  return {"herald_deliveries", " AND target = ?9"};
}
void bind_target(Statement& s, const std::string& target) {
  if (!target.empty()) s.bind(9, target);
}
// Sorted positions as runs of consecutive ones, [first, last] each: a
// batch marked delivered is mostly one run, a range SQLite walks along its
// primary key (a JSON array of 1,000 positions cost a third of the mark).
std::vector<std::pair<std::int64_t, std::int64_t>> runs_of(std::vector<std::int64_t> positions) {
  std::sort(positions.begin(), positions.end());
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;
  for (auto p : positions) {
    if (!runs.empty() && p <= runs.back().second + 1)
      runs.back().second = p;  // sorted: p is the run's last or the next after it
    else
      runs.emplace_back(p, p);
  }
  return runs;
}

// The positions a claim passes over (the relay's rows in flight), read by
// the claim statements as herald_in_flight(position). A sorted list held
// here, where a JSON array bound to the statement was parsed into a
// temporary table at every claim (0.6 ms of 1.5, in the sqlite3 shell).
class InFlight {
 public:
  explicit InFlight(sqlite3* db) {
    check(db,
          sqlite3_create_function_v2(db, "herald_in_flight", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, this, &InFlight::call,
                                     nullptr, nullptr, nullptr),
          "create function herald_in_flight");
  }
  InFlight(const InFlight&) = delete;  // SQLite holds its address
  InFlight& operator=(const InFlight&) = delete;

  /// For the next claim; `sorted` in increasing order. The caller holds the store's lock.
  void set(std::vector<std::int64_t> sorted) { positions_ = std::move(sorted); }

 private:
  static void call(sqlite3_context* ctx, int, sqlite3_value** argv) {
    const auto& positions = static_cast<const InFlight*>(sqlite3_user_data(ctx))->positions_;
    sqlite3_result_int(ctx, std::binary_search(positions.begin(), positions.end(), sqlite3_value_int64(argv[0])));
  }
  std::vector<std::int64_t> positions_;
};

std::vector<StoredEvent> with_target(std::vector<StoredEvent> rows, const std::string& target) {
  for (auto& r : rows) r.target = target;
  return rows;
}

class SqliteEventStore final : public EventStore {
 public:
  explicit SqliteEventStore(const SqliteOptions& options)
      : describe_("sqlite:" + (options.path == ":memory:" ? std::string(":memory:") : "//" + options.path)),
        db_(open_database(options)),
        in_flight_(db_.get()),
        insert_(db_.get(), insert_sql, true),
        claim_(db_.get(), claim_sql, true),
        // One statement per run of consecutive positions (a batch is mostly one).
        delivered_(db_.get(),
                   "UPDATE herald_events SET delivered_at = ?1, lease_owner = NULL, lease_until = NULL "
                   "WHERE position BETWEEN ?2 AND ?3 AND delivered_at IS NULL",
                   true),
        failed_(db_.get(),
                "UPDATE herald_events SET delivery_attempts = delivery_attempts + 1, next_attempt_at = ?1, "
                "dead_letter = ?2, last_error = ?3, lease_owner = NULL, lease_until = NULL "
                "WHERE position = ?4 AND delivered_at IS NULL",
                true),
        release_(db_.get(),
                 "UPDATE herald_events SET lease_owner = NULL, lease_until = NULL WHERE position = ?1 AND lease_owner = ?2",
                 true) {
    if (options.path != ":memory:") checkpointer_ = std::make_unique<Checkpointer>(db_.get(), options);
  }

  using EventStore::append;
  std::vector<std::int64_t> append(std::vector<Envelope>& events, const AppendOptions& options) override {
    if (events.empty()) return {};
    std::lock_guard lock(mutex_);
    Transaction tx(db_.get());
    auto positions = insert_events(db_.get(), insert_, events, options);
    tx.commit();
    return positions;
  }

  std::optional<StoredEvent> find(const std::string& id) override {
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), "SELECT " HERALD_SQLITE_ROW_COLUMNS " FROM herald_events WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_row(s);
  }

  EventPage timeline(const std::string& aggregate_type, const std::string& aggregate_id, const std::string& cursor,
                     std::size_t limit) override {
    auto query = timeline_query(aggregate_type, aggregate_id, cursor, limit);
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), "SELECT " HERALD_SQLITE_ROW_COLUMNS
                           " FROM herald_events WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND position > ?3 "
                           "ORDER BY position LIMIT ?4");
    s.bind(1, aggregate_type).bind(2, aggregate_id).bind(3, query.after).bind(4, static_cast<std::int64_t>(query.rows));
    return query.page(read_rows(s));
  }

  ScanResult scan(const EventFilter& filter, std::int64_t after, std::size_t limit) override {
    auto query = scan_query(filter, after, limit);
    const bool exact_type = !query.exact_type.empty();
    std::string sql = "SELECT " HERALD_SQLITE_ROW_COLUMNS " FROM herald_events WHERE position > ?1 AND position <= ?2";
    if (exact_type) sql += " AND type = ?3";
    if (!filter.aggregate_type.empty()) sql += " AND aggregate_type = ?4";
    if (!filter.aggregate_id.empty()) sql += " AND aggregate_id = ?5";
    sql += " ORDER BY position LIMIT ?6";
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), sql);
    s.bind(1, query.read_after).bind(2, filter.to_position);
    if (exact_type) s.bind(3, query.exact_type);
    if (!filter.aggregate_type.empty()) s.bind(4, filter.aggregate_type);
    if (!filter.aggregate_id.empty()) s.bind(5, filter.aggregate_id);
    s.bind(6, static_cast<std::int64_t>(limit));
    return query.result(read_rows(s), [&] { return last_position(); });
  }

  using EventStore::backlog;
  using EventStore::count_pending;
  using EventStore::status;
  OutboxStatus status(const std::string& target) override { return read_status(true, target); }
  OutboxStatus backlog(const std::string& target) override { return read_status(false, target); }

  std::uint64_t count_pending(const std::string& target) override {
    auto sql = state_sql(target);
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), "SELECT count(*) FROM " + sql.table + " WHERE delivered_at IS NULL AND dead_letter = 0" + sql.target);
    bind_target(s, target);
    s.step();
    return static_cast<std::uint64_t>(s.integer(0));
  }

  std::vector<std::string> delivery_targets() override {
    std::lock_guard lock(mutex_);
    // Skips from one target to the next along the primary key.
    Statement s(db_.get(), R"sql(
      WITH RECURSIVE t(name) AS (
        SELECT min(target) FROM herald_deliveries
        UNION ALL
        SELECT (SELECT min(target) FROM herald_deliveries WHERE target > t.name) FROM t WHERE t.name IS NOT NULL)
      SELECT name FROM t WHERE name IS NOT NULL)sql");
    std::vector<std::string> out;
    while (s.step()) out.emplace_back(s.text(0));
    return out;
  }

  // Claims run under the store's lock, beside marks from another thread.
  bool claims_past_in_flight() const noexcept override { return true; }

  std::vector<StoredEvent> claim(const LeaseRequest& request) override {
    if (request.owner.empty()) throw ConfigError("claim: owner must not be empty");
    std::int64_t now = to_micros(request.now);
    std::int64_t until = now + std::chrono::duration_cast<std::chrono::microseconds>(request.lease).count();
    // Rows in flight carry no lease here, so they hold no key back: they
    // are only passed over.
    std::vector<std::int64_t> in_flight = request.in_flight;
    std::sort(in_flight.begin(), in_flight.end());
    std::vector<UndecodedRow> rows;
    {
      std::lock_guard lock(mutex_);
      Transaction tx(db_.get());
      // One relay at a time on a SQLite store (per target): the others stand
      // by until the holder's lease runs out (it renews it on every claim).
      const std::string lease_name = request.target.empty() ? "relay" : "relay:" + request.target;
      {
        Statement holder(db_.get(), "SELECT owner, until FROM herald_relay_lease WHERE name = ?1");
        holder.bind(1, lease_name);
        if (holder.step() && holder.text(0) != request.owner && holder.integer(1) > now) return {};
      }
      Statement take(db_.get(),
                     "INSERT INTO herald_relay_lease(name, owner, until) VALUES (?3, ?1, ?2) "
                     "ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, until = excluded.until");
      take.bind(1, request.owner).bind(2, until).bind(3, lease_name).run();
      // The relay lease covers the rows too: while it holds, no other relay
      // claims, so rows need no lease of their own (that would be an UPDATE of
      // every row of every batch).
      in_flight_.set(std::move(in_flight));
      if (request.target.empty()) {
        ResetGuard reset(claim_);
        claim_.bind(1, now).bind(2, static_cast<std::int64_t>(request.limit));
        rows = read_undecoded_rows(claim_);
      } else {
        Statement deliveries(db_.get(), claim_delivery_sql);
        deliveries.bind(1, now).bind(2, static_cast<std::int64_t>(request.limit)).bind(3, request.target);
        rows = read_undecoded_rows(deliveries);
      }
      tx.commit();
    }
    // Outside the lock: the relay's other thread records the last batch meanwhile.
    return with_target(decode_rows(std::move(rows)), request.target);
  }

  using EventStore::mark_delivered;
  void mark_delivered(const std::vector<std::int64_t>& positions, Timestamp at, const std::string& target) override {
    if (positions.empty()) return;
    const auto runs = runs_of(positions);
    std::lock_guard lock(mutex_);
    std::optional<Transaction> tx;
    if (runs.size() > 1) tx.emplace(db_.get());
    std::optional<Statement> of_target;
    Statement& s = statement_for(target, delivered_, of_target,
                                 "UPDATE herald_deliveries SET delivered_at = ?1, lease_owner = NULL, lease_until = NULL "
                                 "WHERE target = ?9 AND position BETWEEN ?2 AND ?3 AND delivered_at IS NULL");
    for (const auto& [first, last] : runs) {
      s.bind(1, to_micros(at)).bind(2, first).bind(3, last);
      bind_target(s, target);
      s.run();
    }
    if (tx) tx->commit();
  }

  using EventStore::mark_failed;
  void mark_failed(const std::vector<DeliveryFailure>& failures, const std::string& target) override {
    if (failures.empty()) return;
    std::lock_guard lock(mutex_);
    Transaction tx(db_.get());
    std::optional<Statement> of_target;
    Statement& s = statement_for(target, failed_, of_target,
                                 "UPDATE herald_deliveries SET delivery_attempts = delivery_attempts + 1, "
                                 "next_attempt_at = ?1, dead_letter = ?2, last_error = ?3, lease_owner = NULL, "
                                 "lease_until = NULL WHERE target = ?9 AND position = ?4 AND delivered_at IS NULL");
    for (const auto& f : failures) {
      s.bind(1, to_micros(f.next_attempt_at))
          .bind(2, static_cast<std::int64_t>(f.dead ? 1 : 0))
          .bind(3, f.error)
          .bind(4, f.position);
      bind_target(s, target);
      s.run();
    }
    tx.commit();
  }

  void stand_down(const std::string& owner) override {
    std::lock_guard lock(mutex_);
    // The relay lease of every target `owner` relays.
    Statement s(db_.get(), "DELETE FROM herald_relay_lease WHERE owner = ?1");
    s.bind(1, owner).run();
  }

  using EventStore::release;
  void release(const std::vector<std::int64_t>& positions, const std::string& owner, const std::string& target) override {
    if (positions.empty()) return;
    std::lock_guard lock(mutex_);
    Transaction tx(db_.get());
    std::optional<Statement> of_target;
    Statement& s = statement_for(target, release_, of_target,
                                 "UPDATE herald_deliveries SET lease_owner = NULL, lease_until = NULL "
                                 "WHERE target = ?9 AND position = ?1 AND lease_owner = ?2");
    for (auto p : positions) {
      s.bind(1, p).bind(2, owner);
      bind_target(s, target);
      s.run();
    }
    tx.commit();
  }

  using EventStore::dead_letters;
  std::vector<StoredEvent> dead_letters(std::size_t limit, const std::string& target) override {
    std::lock_guard lock(mutex_);
    Statement s(db_.get(),
                target.empty()
                    ? "SELECT " HERALD_SQLITE_ROW_COLUMNS
                      " FROM herald_events WHERE dead_letter = 1 AND skipped_at IS NULL ORDER BY position LIMIT ?1"
                    : "SELECT " HERALD_SQLITE_DELIVERY_COLUMNS
                      " FROM herald_deliveries d JOIN herald_events e ON e.position = d.position"
                      " WHERE d.target = ?9 AND d.dead_letter = 1 AND d.skipped_at IS NULL ORDER BY d.position LIMIT ?1");
    s.bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    bind_target(s, target);
    return with_target(read_rows(s), target);
  }

  using EventStore::replay_dead_letters;
  std::size_t replay_dead_letters(const std::optional<std::string>& id, const std::string& target) override {
    auto sql = state_sql(target);
    std::string where = " WHERE dead_letter = 1 AND skipped_at IS NULL" + sql.target;
    if (id) where += target.empty() ? " AND id = ?1" : " AND position = (SELECT position FROM herald_events WHERE id = ?1)";
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), "UPDATE " + sql.table +
                               " SET dead_letter = 0, delivery_attempts = 0, next_attempt_at = NULL, last_error = NULL" + where);
    if (id) s.bind(1, *id);
    bind_target(s, target);
    s.run();
    auto n = static_cast<std::size_t>(sqlite3_changes(db_.get()));
    if (id && n == 0) throw NotFoundError("no dead event with id '" + *id + "'" + for_target(target) + " in " + describe_);
    return n;
  }

  using EventStore::skip_dead_letter;
  void skip_dead_letter(const std::string& id, const std::string& target) override {
    auto sql = state_sql(target);
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), "UPDATE " + sql.table + " SET skipped_at = ?2 WHERE dead_letter = 1 AND skipped_at IS NULL" +
                               sql.target +
                               (target.empty() ? " AND id = ?1"
                                               : " AND position = (SELECT position FROM herald_events WHERE id = ?1)"));
    s.bind(1, id).bind(2, to_micros(now_micros()));
    bind_target(s, target);
    s.run();
    if (sqlite3_changes(db_.get()) == 0)
      throw NotFoundError("no dead event with id '" + id + "'" + for_target(target) + " in " + describe_);
  }

  std::string describe() const override { return describe_; }

 private:
  static std::string for_target(const std::string& target) {
    return target.empty() ? std::string() : " for target '" + target + "'";
  }

  OutboxStatus read_status(bool count_delivered, const std::string& target) {
    auto sql = state_sql(target);
    const std::string& table = sql.table;
    const std::string oldest =
        target.empty() ? "SELECT created_at FROM herald_events WHERE delivered_at IS NULL AND dead_letter = 0 "
                         "ORDER BY position LIMIT 1"
                       : "SELECT e.created_at FROM herald_events e WHERE e.position = (SELECT min(position) FROM "
                         "herald_deliveries WHERE delivered_at IS NULL AND dead_letter = 0 AND target = ?9)";
    std::lock_guard lock(mutex_);
    Statement s(db_.get(), "SELECT (SELECT count(*) FROM " + table + " WHERE delivered_at IS NULL AND dead_letter = 0" + sql.target +
                               "), (SELECT count(*) FROM " + table +
                               " WHERE delivered_at IS NULL AND dead_letter = 0 AND delivery_attempts > 0" + sql.target +
                               "), " +
                               (count_delivered ? "(SELECT count(*) FROM " + table + " WHERE delivered_at IS NOT NULL" + sql.target + ")"
                                                : std::string("0")) +
                               ", (SELECT count(*) FROM " + table + " WHERE dead_letter = 1 AND skipped_at IS NULL" + sql.target +
                               "), (" + oldest + "), (SELECT coalesce(max(position), 0) FROM herald_events)");
    bind_target(s, target);
    s.step();
    OutboxStatus st;
    st.pending = static_cast<std::uint64_t>(s.integer(0));
    st.retrying = static_cast<std::uint64_t>(s.integer(1));
    st.delivered = static_cast<std::uint64_t>(s.integer(2));
    st.dead = static_cast<std::uint64_t>(s.integer(3));
    if (auto t = s.optional_integer(4)) st.oldest_pending = from_micros(*t);
    st.last_position = s.integer(5);
    return st;
  }

  // The event rows' prepared statement, or `target_sql` prepared into
  // `holder` for a target's deliveries (per call: as the other target
  // statements here are).
  Statement& statement_for(const std::string& target, Statement& of_events, std::optional<Statement>& holder,
                           const char* target_sql) {
    if (target.empty()) return of_events;
    return holder.emplace(db_.get(), target_sql);
  }

  std::int64_t last_position() {
    Statement s(db_.get(), "SELECT coalesce(max(position), 0) FROM herald_events");
    s.step();
    return s.integer(0);
  }

  std::string describe_;
  std::mutex mutex_;
  DbHandle db_;
  InFlight in_flight_;  // before the statements that call it
  Statement insert_, claim_, delivered_, failed_, release_;
  std::unique_ptr<Checkpointer> checkpointer_;  // none for :memory: (no WAL)
};

}  // namespace

std::shared_ptr<EventStore> make_event_store(const SqliteOptions& options) {
  return std::make_shared<SqliteEventStore>(options);
}

}  // namespace herald::sqlite
