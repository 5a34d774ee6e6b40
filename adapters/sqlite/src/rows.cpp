#include "rows.hpp"

#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

namespace herald::sqlite {

const char* const insert_sql =
    "INSERT INTO herald_events(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, "
    "occurred_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

std::vector<std::int64_t> insert_events(sqlite3* db, Statement& insert, std::vector<Envelope>& events,
                                        const AppendOptions& options) {
  // Validate all first: an invalid event must not leave half a batch behind.
  for (auto& e : events) prepare_for_append(e, options);
  std::int64_t created = to_micros(now_micros());
  std::vector<std::int64_t> positions;
  positions.reserve(events.size());
  for (const auto& e : events) {
    ResetGuard reset(insert);
    insert.bind(1, e.id)
        .bind(2, e.type)
        .bind(3, e.aggregatetype)
        .bind(4, e.aggregateid)
        .bind(5, ordering_key(e))
        .bind_or_null(6, e.data)
        .bind(7, encode_metadata(e))
        .bind(8, to_micros(e.time))
        .bind(9, created);
    try {
      insert.step();
    } catch (const StoreError&) {
      if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE)
        throw StoreError("sqlite: event id '" + e.id + "' is already in the store");
      throw;
    }
    positions.push_back(sqlite3_last_insert_rowid(db));
  }
  return positions;
}

StoredEvent read_row(const Statement& s) {
  StoredEvent r;
  r.position = s.integer(0);
  r.event = decode_stored(s.text(1), s.text(2));
  r.created_at = from_micros(s.integer(3));
  if (auto t = s.optional_integer(4)) r.delivered_at = from_micros(*t);
  r.delivery_attempts = static_cast<int>(s.integer(5));
  if (auto t = s.optional_integer(6)) r.next_attempt_at = from_micros(*t);
  r.dead_letter = s.integer(7) != 0;
  r.last_error = std::string(s.text(8));
  if (auto t = s.optional_integer(9)) r.skipped_at = from_micros(*t);
  return r;
}

std::vector<StoredEvent> read_rows(Statement& s) {
  std::vector<StoredEvent> rows;
  while (s.step()) rows.push_back(read_row(s));
  return rows;
}

}  // namespace herald::sqlite
