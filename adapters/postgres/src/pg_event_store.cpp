// The PostgreSQL event store. Several relays may claim from one store at
// once: each batch claimed is leased by one row of herald_claims.

#include <algorithm>

#include "herald/ext/store.hpp"
#include "herald/postgres/outbox.hpp"
#include "pg_store.hpp"
#include "rows.hpp"

namespace herald::postgres {

namespace {

// The claim's one query, for the event rows or (`deliveries`) one target's
// ($4, '' for the event rows): due pending rows (herald_pending) in
// position order, at most $2, passing over those in a live batch claimed by
// any relay (herald_claims; the claimer's own are $3, in flight: passed
// over, but holding no key back) and those whose ordering key has an
// earlier row held: waiting for a retry, in another relay's batch, or dead
// and not skipped (a dead row overtaken would arrive out of order once
// retried). `lease_until` is only set by relays before schema 4 (per-row
// leases), still honoured for rows they left leased.
std::string make_claim_sql(bool deliveries) {
  const std::string table = deliveries ? "herald_deliveries" : "herald_events";
  const std::string row = deliveries ? "d" : "e";
  const std::string of_target = deliveries ? " AND target = $4" : "";
  const std::string now = HERALD_PG_TS("$1");
  const std::string state = deliveries ? " JOIN herald_deliveries d ON d.target = p.target AND d.position = p.position" : "";
  return "WITH others AS (SELECT unnest(positions) AS position FROM herald_claims WHERE target = $4),"
         " blocked AS (SELECT ordering_key, min(position) AS first FROM ("
         " SELECT ordering_key, position FROM " + table +
         " WHERE delivered_at IS NULL AND NOT dead_letter AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL)"
         " AND ordering_key <> '' AND (next_attempt_at > " + now + " OR lease_until > " + now + ")" + of_target +
         " UNION ALL SELECT ordering_key, position FROM " + table +
         " WHERE dead_letter AND skipped_at IS NULL AND ordering_key <> ''" + of_target +
         " UNION ALL SELECT c.ordering_key, c.position FROM others o"
         " JOIN herald_pending q ON q.target = $4 AND q.position = o.position"
         " JOIN " + table + " c ON c.position = o.position" + (deliveries ? " AND c.target = $4" : "") +
         " WHERE NOT c.dead_letter AND c.ordering_key <> '') held GROUP BY ordering_key)"
         " SELECT " + (deliveries ? HERALD_PG_PENDING_COLUMNS("d.") : HERALD_PG_PENDING_COLUMNS("e.")) +
         " FROM herald_pending p JOIN herald_events e ON e.position = p.position" + state +
         " WHERE p.target = $4 AND NOT " + row + ".dead_letter" +
         " AND (" + row + ".next_attempt_at IS NULL OR " + row + ".next_attempt_at <= " + now + ")"
         " AND (" + row + ".lease_until IS NULL OR " + row + ".lease_until <= " + now + ")"
         " AND NOT EXISTS (SELECT 1 FROM blocked k WHERE k.ordering_key = " + row + ".ordering_key AND k.first < " + row +
         ".position)"
         " AND p.position NOT IN (SELECT position FROM others UNION ALL SELECT unnest($3::bigint[]))"
         " ORDER BY p.position LIMIT $2";
}

// Pending rows (herald_pending `p`) of the event rows or a target's
// deliveries ($n), joined with their state (`r`), which excludes the dead.
std::string pending_rows(const std::string& target, int param) {
  if (target.empty())
    return " herald_pending p JOIN herald_events r ON r.position = p.position WHERE p.target = '' AND NOT r.dead_letter";
  const std::string t = "$" + std::to_string(param);
  return " herald_pending p JOIN herald_deliveries r ON r.target = p.target AND r.position = p.position WHERE p.target = " +
         t + " AND NOT r.dead_letter";
}

// The statements that differ between the event rows and a target's
// deliveries only in the table and a last parameter, the target.
struct StateSql {
  std::string table;   // herald_events or herald_deliveries
  std::string target;  // "" or " AND target = $n"
};
StateSql state_sql(const std::string& target, int param) {
  if (target.empty()) return {"herald_events", ""};
  return {"herald_deliveries", " AND target = $" + std::to_string(param)};
}
// exec_params with the target as the last parameter when there is one.
template <class... Args>
pqxx::result exec_for(pqxx::transaction_base& tx, const std::string& target, const std::string& sql, Args&&... args) {
  if (target.empty()) return tx.exec_params(sql, std::forward<Args>(args)...);
  return tx.exec_params(sql, std::forward<Args>(args)..., target);
}
std::vector<StoredEvent> with_target(std::vector<StoredEvent> rows, const std::string& target) {
  for (auto& r : rows) r.target = target;
  return rows;
}
std::string for_target(const std::string& target) {
  return target.empty() ? std::string() : " for target '" + target + "'";
}

// The relay's own bookkeeping (leases, delivered and failed marks) commits
// without waiting for the WAL flush: a crash of the database may forget the
// last marks, and the rows are then delivered again (at least once, as
// always), while the appends the application relies on stay synchronous.
// The statement itself, for the relay's messages that send it with others.
constexpr const char* relay_commit_sql = "SET LOCAL synchronous_commit = off";
void relay_commit(pqxx::transaction_base& tx) { tx.exec(relay_commit_sql); }

class PgEventStore final : public EventStore {
 public:
  explicit PgEventStore(ConnectionConfig config) : pool_(std::move(config)) {
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

  using EventStore::append;
  std::vector<std::int64_t> append(std::vector<Envelope>& events, const AppendOptions& options) override {
    if (events.empty()) return {};
    return pool_.with("append", [&](pqxx::connection& c) {
      if (events.size() == 1 && !options.targets) {
        // One INSERT is atomic on its own: without BEGIN and COMMIT it is
        // one round trip, not three (half the rate of a plain libpq insert
        // before, docs/perf.md).
        pqxx::nontransaction single(c);
        return insert_events(single, events, options, Statements::prepared);
      }
      pqxx::work tx(c);
      auto positions = insert_events(tx, events, options, Statements::prepared);
      tx.commit();
      return positions;
    });
  }

  std::optional<StoredEvent> find(const std::string& id) override {
    return pool_.with("find", [&](pqxx::connection& c) -> std::optional<StoredEvent> {
      pqxx::read_transaction tx(c);
      auto r = tx.exec_params("SELECT " HERALD_PG_ROW_COLUMNS " FROM herald_events WHERE id = $1", id);
      if (r.empty()) return std::nullopt;
      return read_row(r[0]);
    });
  }

  EventPage timeline(const std::string& aggregate_type, const std::string& aggregate_id, const std::string& cursor,
                     std::size_t limit) override {
    auto query = timeline_query(aggregate_type, aggregate_id, cursor, limit);
    return pool_.with("timeline", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto r = tx.exec_params("SELECT " HERALD_PG_ROW_COLUMNS
                              " FROM herald_events WHERE aggregate_type = $1 AND aggregate_id = $2 AND position > $3 "
                              "ORDER BY position LIMIT $4",
                              aggregate_type, aggregate_id, static_cast<long long>(query.after),
                              static_cast<long long>(query.rows));
      return query.page(read_rows(r));
    });
  }

  ScanResult scan(const EventFilter& filter, std::int64_t after, std::size_t limit) override {
    auto query = scan_query(filter, after, limit);
    // Unused filters compare with '' so one statement serves every filter.
    std::string sql = "SELECT " HERALD_PG_ROW_COLUMNS
                      " FROM herald_events WHERE position > $1 AND position <= $2"
                      " AND ($3 = '' OR type = $3) AND ($4 = '' OR aggregate_type = $4)"
                      " AND ($5 = '' OR aggregate_id = $5) ORDER BY position LIMIT $6";
    return pool_.with("scan", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto r = tx.exec_params(sql, static_cast<long long>(query.read_after), static_cast<long long>(filter.to_position),
                              query.exact_type, filter.aggregate_type, filter.aggregate_id,
                              static_cast<long long>(limit));
      return query.result(read_rows(r), [&] {
        return tx.exec("SELECT coalesce(max(position), 0) FROM herald_events")[0][0].as<std::int64_t>();
      });
    });
  }

  using EventStore::backlog;
  using EventStore::count_pending;
  using EventStore::status;
  OutboxStatus status(const std::string& target) override { return read_status(true, target); }
  OutboxStatus backlog(const std::string& target) override { return read_status(false, target); }

  OutboxStatus read_status(bool count_delivered, const std::string& target) {
    auto sql = state_sql(target, 1);
    const std::string pending = pending_rows(target, 1);
    const std::string oldest = "SELECT " HERALD_PG_US("e.created_at") " FROM herald_events e WHERE e.position = (SELECT "
                               "p.position FROM" + pending + " ORDER BY p.position LIMIT 1)";
    // Delivered: every row of the target's but those still to deliver.
    const std::string delivered =
        "(SELECT count(*) FROM " + sql.table + (target.empty() ? "" : " WHERE target = $1") +
        ") - (SELECT count(*) FROM herald_pending WHERE target = " + (target.empty() ? "''" : "$1") + ")";
    const std::string query =
        "SELECT (SELECT count(*) FROM" + pending + "), (SELECT count(*) FROM" + pending + " AND r.delivery_attempts > 0), " +
        (count_delivered ? delivered : std::string("0")) + ", (SELECT count(*) FROM " + sql.table +
        " WHERE dead_letter AND skipped_at IS NULL" + sql.target + "), (" + oldest +
        "), (SELECT coalesce(max(position), 0) FROM herald_events)";
    return pool_.with("status", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto r = exec_for(tx, target, query);
      OutboxStatus st;
      st.pending = r[0][0].as<std::uint64_t>();
      st.retrying = r[0][1].as<std::uint64_t>();
      st.delivered = r[0][2].as<std::uint64_t>();
      st.dead = r[0][3].as<std::uint64_t>();
      if (!r[0][4].is_null()) st.oldest_pending = from_micros(r[0][4].as<std::int64_t>());
      st.last_position = r[0][5].as<std::int64_t>();
      return st;
    });
  }

  std::uint64_t count_pending(const std::string& target) override {
    return pool_.with("count pending", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return exec_for(tx, target, "SELECT count(*) FROM" + pending_rows(target, 1))[0][0].as<std::uint64_t>();
    });
  }

  std::vector<std::string> delivery_targets() override {
    return pool_.with("delivery targets", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      // Skips from one target to the next along the primary key.
      auto r = tx.exec(R"sql(
        WITH RECURSIVE t(name) AS (
          SELECT min(target) FROM herald_deliveries
          UNION ALL
          SELECT (SELECT min(target) FROM herald_deliveries WHERE target > t.name) FROM t WHERE t.name IS NOT NULL)
        SELECT name FROM t WHERE name IS NOT NULL)sql");
      std::vector<std::string> out;
      for (const auto& row : r) out.push_back(row[0].as<std::string>());
      return out;
    });
  }

  // Claims wait for each other, not for marks: a claim may run while the
  // batch claimed before it is published and the one before that is marked.
  bool claims_past_in_flight() const noexcept override { return true; }

  std::vector<StoredEvent> claim(const LeaseRequest& request) override {
    if (request.owner.empty()) throw ConfigError("claim: owner must not be empty");
    static const std::string event_rows_sql = make_claim_sql(false), deliveries_sql = make_claim_sql(true);
    auto now = static_cast<long long>(to_micros(request.now));
    auto until = now + static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(request.lease).count());
    const std::string& target = request.target;
    return pool_.with("claim", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      // What comes before the claim's query goes in one message (one round
      // trip, not four: on a machine whose cores are busy each can wait for
      // the scheduler):
      // - the relay's commit mode (relay_commit_sql);
      // - the lock. A relay leases a batch with one row of herald_claims (its
      //   positions), not by updating each row of it. Claims of one target
      //   therefore run one after the other, whichever relay makes them: the
      //   lock is held to the commit, and under READ COMMITTED each statement
      //   after it sees the batch the claim before committed;
      // - the owner's previous batch is replaced by what it still has in
      //   flight; batches whose relay stopped renewing them are let go;
      // - the planner's settings. The candidates are the first pending rows
      //   in position order, read through herald_pending's key until the
      //   limit. Without fresh statistics (a table just filled, a backlog
      //   after an outage) the planner expects a few pending rows and instead
      //   reads all of them, joins them to the held keys by hash and sorts
      //   them: 20-39 ms for a 1,000-row claim over 50,000 pending rows,
      //   against 1.5 ms for the ordered scan. These settings leave it only
      //   the ordered scan, to the commit (the claim's INSERT joins nothing).
      const std::string of = tx.quote(target);
      tx.exec(std::string(relay_commit_sql) + "; "
              "SELECT pg_advisory_xact_lock(hashtext('herald claim ' || current_schema() || ' ' || " + of + ")); "
              "DELETE FROM herald_claims WHERE target = " + of + " AND (owner = " + tx.quote(request.owner) +
              " OR until <= " + pg_ts(now) + "); "
              "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off");
      auto r = tx.exec_params(target.empty() ? event_rows_sql : deliveries_sql, now,
                              static_cast<long long>(request.limit), bigint_array(request.in_flight), target);
      auto rows = with_target(read_rows(r), target);
      std::vector<std::int64_t> held = request.in_flight;
      for (const auto& row : rows) held.push_back(row.position);
      if (!held.empty())
        tx.exec_params("INSERT INTO herald_claims(target, owner, until, positions) VALUES ($1, $2, " HERALD_PG_TS("$3")
                       ", $4::bigint[])",
                       target, request.owner, until, bigint_array(held));
      tx.commit();
      return rows;
    });
  }

  // The rows leave herald_pending; the time of those whose own delivery
  // columns were never written goes in one herald_delivered row, the others
  // (touched: failed, leased per row) get it in their row, which also takes
  // them out of the held and dead indexes. One message, one round trip: the
  // statements of a simple query are one transaction, and on a machine
  // whose cores are busy each round trip can wait for the scheduler.
  using EventStore::mark_delivered;
  void mark_delivered(const std::vector<std::int64_t>& positions, Timestamp at, const std::string& target) override {
    if (positions.empty()) return;
    pool_.with("mark delivered", [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      const std::string time = pg_ts(to_micros(at));
      const std::string table = target.empty() ? "herald_events" : "herald_deliveries";
      const std::string of = tx.quote(target);
      tx.exec(std::string(relay_commit_sql) + "; "
              "WITH gone AS (DELETE FROM herald_pending WHERE target = " + of + " AND position = ANY(" +
              tx.quote(bigint_array(positions)) + "::bigint[]) RETURNING position, touched), "
              "batch AS (INSERT INTO herald_delivered(target, span, at, positions) SELECT " + of +
              ", int8range(min(position), max(position), '[]'), " + time + ", array_agg(position) "
              "FROM gone WHERE NOT touched HAVING count(*) > 0) "
              "UPDATE " + table + " SET delivered_at = " + time + ", lease_owner = NULL, lease_until = NULL "
              "WHERE position IN (SELECT position FROM gone WHERE touched) AND delivered_at IS NULL" +
              (target.empty() ? std::string() : " AND target = " + of));
    });
  }

  using EventStore::mark_failed;
  void mark_failed(const std::vector<DeliveryFailure>& failures, const std::string& target) override {
    if (failures.empty()) return;
    std::vector<std::int64_t> positions, next;
    std::vector<bool> dead;
    std::vector<std::string> errors;
    for (const auto& f : failures) {
      positions.push_back(f.position);
      next.push_back(to_micros(f.next_attempt_at));
      dead.push_back(f.dead);
      errors.push_back(f.error);
    }
    pool_.with("mark failed", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      relay_commit(tx);
      // Only rows still to deliver; their herald_pending rows say they are
      // touched, so their delivered mark will write their row.
      const std::string table = target.empty() ? "herald_events" : "herald_deliveries";
      tx.exec_params(
          "WITH t AS (UPDATE herald_pending SET touched = true WHERE target = $5 AND position = ANY($1::bigint[]) "
          "RETURNING position) "
          "UPDATE " + table + " e SET delivery_attempts = e.delivery_attempts + 1, next_attempt_at = " HERALD_PG_TS("f.next_us")
          ", dead_letter = f.dead, last_error = f.error, lease_owner = NULL, lease_until = NULL "
          "FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::text[]) AS f(position, next_us, dead, error) "
          "WHERE e.position = f.position AND e.position IN (SELECT position FROM t)" +
              (target.empty() ? std::string() : " AND e.target = $5"),
          bigint_array(positions), bigint_array(next), bool_array(dead), text_array(errors), target);
      tx.commit();
    });
  }

  using EventStore::release;
  void release(const std::vector<std::int64_t>& positions, const std::string& owner, const std::string& target) override {
    if (positions.empty()) return;
    pool_.with("release", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      relay_commit(tx);
      tx.exec_params("UPDATE herald_claims SET positions = ARRAY(SELECT p FROM unnest(positions) p "
                     "WHERE p <> ALL($1::bigint[])) WHERE target = $2 AND owner = $3",
                     bigint_array(positions), target, owner);
      tx.commit();
    });
  }

  void stand_down(const std::string& owner) override {
    pool_.with("stand down", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_params("DELETE FROM herald_claims WHERE owner = $1", owner);
      tx.commit();
    });
  }

  using EventStore::dead_letters;
  std::vector<StoredEvent> dead_letters(std::size_t limit, const std::string& target) override {
    return pool_.with("dead letters", [&](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      auto r = exec_for(tx, target,
                        target.empty() ? "SELECT " HERALD_PG_PENDING_COLUMNS("e.")
                                         " FROM herald_events e WHERE e.dead_letter AND e.skipped_at IS NULL"
                                         " ORDER BY e.position LIMIT $1"
                                       : "SELECT " HERALD_PG_PENDING_COLUMNS("d.")
                                         " FROM herald_deliveries d JOIN herald_events e ON e.position = d.position"
                                         " WHERE d.target = $2 AND d.dead_letter AND d.skipped_at IS NULL"
                                         " ORDER BY d.position LIMIT $1",
                        static_cast<long long>(std::min<std::size_t>(limit, INT64_MAX)));
      return with_target(read_rows(r), target);
    });
  }

  // The row or delivery term that picks the event with id $1 ('' = any).
  static std::string by_id(const std::string& target) {
    return target.empty() ? " AND ($1 = '' OR id = $1)"
                          : " AND ($1 = '' OR position = (SELECT position FROM herald_events WHERE id = $1))";
  }

  using EventStore::replay_dead_letters;
  std::size_t replay_dead_letters(const std::optional<std::string>& id, const std::string& target) override {
    auto sql = state_sql(target, 2);
    auto n = pool_.with("retry dead letters", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto r = exec_for(tx, target,
                        "UPDATE " + sql.table + " SET dead_letter = false, delivery_attempts = 0, "
                        "next_attempt_at = NULL, last_error = NULL WHERE dead_letter AND skipped_at IS NULL" + sql.target +
                            by_id(target),
                        id.value_or(std::string()));
      tx.commit();
      return static_cast<std::size_t>(r.affected_rows());
    });
    if (id && n == 0) throw NotFoundError("no dead event with id '" + *id + "'" + for_target(target) + " in " + describe());
    return n;
  }

  using EventStore::skip_dead_letter;
  void skip_dead_letter(const std::string& id, const std::string& target) override {
    if (id.empty()) throw NotFoundError("no dead event with id '' in " + describe());
    auto sql = state_sql(target, 2);
    auto n = pool_.with("skip dead letter", [&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto r = exec_for(tx, target,
                        "UPDATE " + sql.table + " SET skipped_at = now() WHERE dead_letter AND skipped_at IS NULL" +
                            sql.target + by_id(target),
                        id);
      tx.commit();
      return r.affected_rows();
    });
    if (n == 0) throw NotFoundError("no dead event with id '" + id + "'" + for_target(target) + " in " + describe());
  }

  std::string describe() const override { return pool_.config().describe; }

 private:
  Pool pool_;
};

}  // namespace

std::shared_ptr<EventStore> make_event_store(ConnectionConfig config) {
  return std::make_shared<PgEventStore>(std::move(config));
}

}  // namespace herald::postgres
