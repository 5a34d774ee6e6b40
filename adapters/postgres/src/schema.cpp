// herald's tables in PostgreSQL, created or migrated when a store opens.

#include <string>

#include "herald/postgres/outbox.hpp"
#include "pg_connection.hpp"

namespace herald::postgres {

namespace {

// Columns beyond the documented ones: `ordering_key` (aggregate, else
// partition key: the relay keeps its events in order) and
// `lease_owner`/`lease_until` (the relay that claimed a row, until when),
// `skipped_at` (an operator gave up on the dead row).
// payload and metadata are `json`, not `jsonb`, so the text reads back as it
// was written and an Envelope round-trips exactly. Indexes are few on
// purpose: each costs on every append (and, before schema 6, on every
// delivered mark).
constexpr const char* migrations[] = {
    // 1: the event table, idempotency marks.
    R"sql(
CREATE TABLE herald_events (
  position          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id                text        NOT NULL UNIQUE,
  type              text        NOT NULL,
  aggregate_type    text        NOT NULL DEFAULT '',
  aggregate_id      text        NOT NULL DEFAULT '',
  ordering_key      text        NOT NULL DEFAULT '',
  payload           json,
  metadata          json        NOT NULL,
  occurred_at       timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  delivered_at      timestamptz,
  delivery_attempts integer     NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz,
  dead_letter       boolean     NOT NULL DEFAULT false,
  last_error        text,
  lease_owner       text,
  lease_until       timestamptz
);
CREATE INDEX herald_events_pending ON herald_events(position)
  WHERE delivered_at IS NULL AND NOT dead_letter;
CREATE INDEX herald_events_held ON herald_events(ordering_key, position)
  WHERE delivered_at IS NULL AND NOT dead_letter AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL);
CREATE INDEX herald_events_aggregate ON herald_events(aggregate_type, aggregate_id, position);
CREATE INDEX herald_events_dead ON herald_events(position) WHERE dead_letter;
CREATE TABLE herald_idempotency (
  group_name text        NOT NULL,
  event_id   text        NOT NULL,
  state      text        NOT NULL,
  updated_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (group_name, event_id)
);
CREATE INDEX herald_idempotency_expiry ON herald_idempotency(expires_at);
)sql",
    // 2: dead rows hold back their ordering key until retried or skipped;
    // `skipped_at` marks the ones an operator gave up on.
    R"sql(
ALTER TABLE herald_events ADD COLUMN skipped_at timestamptz;
DROP INDEX herald_events_dead;
CREATE INDEX herald_events_dead ON herald_events(position) WHERE dead_letter AND skipped_at IS NULL;
)sql",
    // 3: dual publish. An event appended with delivery targets has one row
    // here per target, with the delivery state herald_events has for the
    // others: each target is relayed, held back and dead-lettered on its own.
    // `ordering_key` is the event's, copied so a target's held rows are found
    // by index.
    R"sql(
CREATE TABLE herald_deliveries (
  target            text        NOT NULL,
  position          bigint      NOT NULL,
  ordering_key      text        NOT NULL DEFAULT '',
  delivered_at      timestamptz,
  delivery_attempts integer     NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz,
  dead_letter       boolean     NOT NULL DEFAULT false,
  last_error        text,
  lease_owner       text,
  lease_until       timestamptz,
  skipped_at        timestamptz,
  PRIMARY KEY (target, position)
);
CREATE INDEX herald_deliveries_pending ON herald_deliveries(target, position)
  WHERE delivered_at IS NULL AND NOT dead_letter;
CREATE INDEX herald_deliveries_held ON herald_deliveries(target, ordering_key, position)
  WHERE delivered_at IS NULL AND NOT dead_letter AND (next_attempt_at IS NOT NULL OR lease_until IS NOT NULL);
CREATE INDEX herald_deliveries_dead ON herald_deliveries(target, position) WHERE dead_letter AND skipped_at IS NULL;
)sql",
    // 4: a relay leases each batch it claims with one row here (`target` ''
    // for the event rows), in place of a lease written into each row of it:
    // that was an update of every row, on top of the delivered mark.
    // `lease_owner`/`lease_until` stay for relays of earlier versions.
    R"sql(
CREATE TABLE herald_claims (
  target    text        NOT NULL,
  owner     text        NOT NULL,
  until     timestamptz NOT NULL,
  positions bigint[]    NOT NULL,
  PRIMARY KEY (target, owner)
);
)sql",
    // 5: a claim's positions (thousands: its batch and those in flight)
    // are stored uncompressed. Compressing them took 2.6-4.3 ms of
    // the backend's CPU per 1,000-row claim, the store's second largest cost
    // after the delivered marks; they live only while the batch is out.
    R"sql(
ALTER TABLE herald_claims ALTER COLUMN positions SET STORAGE EXTERNAL;
)sql",
    // 6: what is still to deliver is a row of herald_pending (`target` ''
    // for the event rows), deleted when delivered. Marking a row delivered
    // in its own table was a new version of the whole row with an entry in
    // each index (11-28 ms per 1,000 rows, the relay's longest step);
    // deleting narrow rows and writing one herald_delivered row per mark
    // takes 4-5 ms. `touched` says the row's own delivery columns were
    // written (a failure, a per-row lease): its mark writes delivered_at
    // there as before, so the held and dead indexes stay right. A delivered
    // row's time is its own delivered_at, else that of the herald_delivered
    // row whose positions hold it.
    // Triggers, not herald's statements, keep herald_pending in step with
    // rows inserted, and with rows marked in place: so do processes of an
    // earlier version still running (an application appending, a relay
    // marking) and anything else that inserts rows. One call per statement,
    // set-based: an append of 100 rows costs about what a second INSERT in
    // the same statement costs.
    R"sql(
CREATE TABLE herald_pending (
  target   text    NOT NULL,
  position bigint  NOT NULL,
  touched  boolean NOT NULL DEFAULT false,
  PRIMARY KEY (target, position)
);
INSERT INTO herald_pending(target, position, touched)
  SELECT '', position, delivery_attempts > 0 OR next_attempt_at IS NOT NULL OR lease_until IS NOT NULL OR dead_letter
  FROM herald_events WHERE delivered_at IS NULL;
INSERT INTO herald_pending(target, position, touched)
  SELECT target, position, delivery_attempts > 0 OR next_attempt_at IS NOT NULL OR lease_until IS NOT NULL OR dead_letter
  FROM herald_deliveries WHERE delivered_at IS NULL;
CREATE TABLE herald_delivered (
  target    text        NOT NULL,
  span      int8range   NOT NULL,
  at        timestamptz NOT NULL,
  positions bigint[]    NOT NULL
);
ALTER TABLE herald_delivered ALTER COLUMN positions SET STORAGE EXTERNAL;
CREATE INDEX herald_delivered_span ON herald_delivered USING gist (span);
DROP INDEX IF EXISTS herald_events_pending;
DROP INDEX IF EXISTS herald_deliveries_pending;
CREATE FUNCTION herald_keep_pending() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF TG_TABLE_NAME = 'herald_events' THEN
      INSERT INTO herald_pending(target, position) SELECT '', n.position FROM herald_new n WHERE n.delivered_at IS NULL;
    ELSE
      INSERT INTO herald_pending(target, position) SELECT n.target, n.position FROM herald_new n WHERE n.delivered_at IS NULL;
    END IF;
  ELSIF TG_TABLE_NAME = 'herald_events' THEN
    DELETE FROM herald_pending p USING herald_new n
      WHERE n.delivered_at IS NOT NULL AND p.target = '' AND p.position = n.position;
  ELSE
    DELETE FROM herald_pending p USING herald_new n
      WHERE n.delivered_at IS NOT NULL AND p.target = n.target AND p.position = n.position;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER herald_events_appended AFTER INSERT ON herald_events
  REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_keep_pending();
CREATE TRIGGER herald_events_marked AFTER UPDATE ON herald_events
  REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_keep_pending();
CREATE TRIGGER herald_deliveries_appended AFTER INSERT ON herald_deliveries
  REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_keep_pending();
CREATE TRIGGER herald_deliveries_marked AFTER UPDATE ON herald_deliveries
  REFERENCING NEW TABLE AS herald_new FOR EACH STATEMENT EXECUTE FUNCTION herald_keep_pending();
)sql",
};
constexpr int latest_version = static_cast<int>(std::size(migrations));

int current_version(pqxx::transaction_base& tx) {
  auto exists = tx.exec("SELECT to_regclass('herald_meta') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return 0;
  auto r = tx.exec("SELECT value FROM herald_meta WHERE key = 'schema_version'");
  return r.empty() ? 0 : std::stoi(r[0][0].as<std::string>());
}

}  // namespace

void ensure_schema(pqxx::transaction_base& tx) {
  guarded("migrate schema", [&] {
    if (current_version(tx) == latest_version) return;
    // Processes opening the store at once migrate one after the other.
    tx.exec("SELECT pg_advisory_xact_lock(hashtext('herald schema ' || current_schema()))");
    int version = current_version(tx);
    if (version > latest_version)
      throw StoreError("postgres: the database has herald schema version " + std::to_string(version) +
                       ", newer than this build knows (" + std::to_string(latest_version) + "); upgrade herald");
    tx.exec("CREATE TABLE IF NOT EXISTS herald_meta (key text PRIMARY KEY, value text NOT NULL)");
    for (int v = version; v < latest_version; ++v) tx.exec(migrations[v]);
    tx.exec_params(
        "INSERT INTO herald_meta(key, value) VALUES ('schema_version', $1) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        std::to_string(latest_version));
  });
}

}  // namespace herald::postgres
