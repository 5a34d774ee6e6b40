// herald's tables in SQLite, created or migrated when a store opens.

#include <string>

#include "herald/errors.hpp"
#include "herald/sqlite/outbox.hpp"
#include "sqlite_db.hpp"

namespace herald::sqlite {

namespace {

// Times are INTEGER microseconds since the Unix epoch. Columns beyond the
// documented ones: `ordering_key` (aggregate, else partition key: the relay
// keeps its events in order) and `lease_owner`/`lease_until` (the relay that
// claimed a row, until when), `skipped_at` (an operator gave up on the dead row).
constexpr const char* migrations[] = {
    // 1: the event table, idempotency marks, the relay lease.
    R"sql(
CREATE TABLE herald_events (
  position          INTEGER PRIMARY KEY AUTOINCREMENT,
  id                TEXT    NOT NULL UNIQUE,
  type              TEXT    NOT NULL,
  aggregate_type    TEXT    NOT NULL DEFAULT '',
  aggregate_id      TEXT    NOT NULL DEFAULT '',
  ordering_key      TEXT    NOT NULL DEFAULT '',
  payload           TEXT,
  metadata          TEXT    NOT NULL,
  occurred_at       INTEGER NOT NULL,
  created_at        INTEGER NOT NULL,
  delivered_at      INTEGER,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   INTEGER,
  dead_letter       INTEGER NOT NULL DEFAULT 0,
  last_error        TEXT,
  lease_owner       TEXT,
  lease_until       INTEGER
);
CREATE INDEX herald_events_pending ON herald_events(position)
  WHERE delivered_at IS NULL AND dead_letter = 0;
CREATE INDEX herald_events_held ON herald_events(ordering_key, position)
  WHERE delivered_at IS NULL AND dead_letter = 0 AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL);
CREATE INDEX herald_events_aggregate ON herald_events(aggregate_type, aggregate_id, position);
CREATE INDEX herald_events_type ON herald_events(type, position);
CREATE INDEX herald_events_dead ON herald_events(position) WHERE dead_letter = 1;
CREATE TABLE herald_idempotency (
  group_name TEXT    NOT NULL,
  event_id   TEXT    NOT NULL,
  state      TEXT    NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (group_name, event_id)
) WITHOUT ROWID;
CREATE INDEX herald_idempotency_expiry ON herald_idempotency(expires_at);
CREATE TABLE herald_relay_lease (
  name  TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until INTEGER NOT NULL
);
)sql",
    // 2: dead rows hold back their ordering key until retried or skipped;
    // `skipped_at` marks the ones an operator gave up on.
    R"sql(
ALTER TABLE herald_events ADD COLUMN skipped_at INTEGER;
DROP INDEX herald_events_dead;
CREATE INDEX herald_events_dead ON herald_events(position) WHERE dead_letter = 1 AND skipped_at IS NULL;
)sql",
    // 3: dual publish. An event appended with delivery targets has one row
    // here per target, with the delivery state herald_events has for the
    // others: each target is relayed, held back and dead-lettered on its own.
    // `ordering_key` is the event's, copied so a target's held rows are found
    // by index.
    R"sql(
CREATE TABLE herald_deliveries (
  target            TEXT    NOT NULL,
  position          INTEGER NOT NULL,
  ordering_key      TEXT    NOT NULL DEFAULT '',
  delivered_at      INTEGER,
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   INTEGER,
  dead_letter       INTEGER NOT NULL DEFAULT 0,
  last_error        TEXT,
  lease_owner       TEXT,
  lease_until       INTEGER,
  skipped_at        INTEGER,
  PRIMARY KEY (target, position)
) WITHOUT ROWID;
CREATE INDEX herald_deliveries_pending ON herald_deliveries(target, position)
  WHERE delivered_at IS NULL AND dead_letter = 0;
CREATE INDEX herald_deliveries_held ON herald_deliveries(target, ordering_key, position)
  WHERE delivered_at IS NULL AND dead_letter = 0 AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL);
CREATE INDEX herald_deliveries_dead ON herald_deliveries(target, position) WHERE dead_letter = 1 AND skipped_at IS NULL;
)sql",
};
constexpr int latest_version = static_cast<int>(std::size(migrations));

int current_version(sqlite3* db) {
  Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'herald_meta'");
  if (!exists.step()) return 0;
  Statement version(db, "SELECT value FROM herald_meta WHERE key = 'schema_version'");
  if (!version.step()) return 0;
  return std::stoi(std::string(version.text(0)));
}

}  // namespace

void ensure_schema(sqlite3* db) {
  if (!db) throw StoreError("sqlite: ensure_schema: connection is null");
  // Cheap check first: opening a store on an up-to-date database must not
  // take the write lock.
  if (current_version(db) == latest_version) return;
  Transaction tx(db);
  int version = current_version(db);  // again, under the lock: another process may have migrated
  if (version > latest_version)
    throw StoreError("sqlite: the database has herald schema version " + std::to_string(version) +
                     ", newer than this build knows (" + std::to_string(latest_version) + "); upgrade herald");
  exec(db, "CREATE TABLE IF NOT EXISTS herald_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  for (int v = version; v < latest_version; ++v) exec(db, migrations[v]);
  Statement set(db,
                "INSERT INTO herald_meta(key, value) VALUES ('schema_version', ?1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  set.bind(1, std::to_string(latest_version)).run();
  tx.commit();
}

}  // namespace herald::sqlite
