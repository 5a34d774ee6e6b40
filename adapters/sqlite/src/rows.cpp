#include "rows.hpp"

#include <optional>

#include "herald/errors.hpp"
#include "herald/ext/store.hpp"

namespace herald::sqlite {

const char* const insert_sql =
    "INSERT INTO herald_events(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, "
    "occurred_at, created_at, delivered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

std::vector<std::int64_t> insert_events(sqlite3* db, Statement& insert, std::vector<Envelope>& events,
                                        const AppendOptions& options) {
  // Validate all first: an invalid event must not leave half a batch behind.
  for (auto& e : events) prepare_for_append(e, options);
  const auto targets = targets_of(events, options);
  std::optional<Statement> deliver;
  std::int64_t created = to_micros(now_micros());
  std::vector<std::int64_t> positions;
  positions.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Envelope& e = events[i];
    // An event with targets is handed to them: its row is done, theirs are pending.
    std::optional<std::int64_t> handed;
    if (!targets[i].empty()) handed = created;
    // The strings live until the reset: bound without SQLite's copies.
    const std::string key = ordering_key(e);
    const std::string metadata = encode_metadata(e);
    ResetGuard reset(insert);
    insert.bind_unowned(1, e.id)
        .bind_unowned(2, e.type)
        .bind_unowned(3, e.aggregatetype)
        .bind_unowned(4, e.aggregateid)
        .bind_unowned(5, key)
        .bind_unowned_or_null(6, e.data)
        .bind_unowned(7, metadata)
        .bind(8, to_micros(e.time))
        .bind(9, created)
        .bind(10, handed);
    try {
      insert.step();
    } catch (const StoreError&) {
      if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE)
        throw StoreError("sqlite: event id '" + e.id + "' is already in the store");
      throw;
    }
    positions.push_back(sqlite3_last_insert_rowid(db));
    if (targets[i].empty()) continue;
    if (!deliver)
      deliver.emplace(db, "INSERT INTO herald_deliveries(target, position, ordering_key) VALUES (?1, ?2, ?3)");
    for (const auto& target : targets[i]) {
      ResetGuard reset_delivery(*deliver);
      deliver->bind(1, target).bind(2, positions.back()).bind(3, key).run();
    }
  }
  return positions;
}

namespace {

UndecodedRow read_undecoded(const Statement& s) {
  UndecodedRow u;
  StoredEvent& r = u.row;
  r.position = s.integer(0);
  u.metadata = std::string(s.text(1));
  u.payload = std::string(s.text(2));
  r.created_at = from_micros(s.integer(3));
  if (auto t = s.optional_integer(4)) r.delivered_at = from_micros(*t);
  r.delivery_attempts = static_cast<int>(s.integer(5));
  if (auto t = s.optional_integer(6)) r.next_attempt_at = from_micros(*t);
  r.dead_letter = s.integer(7) != 0;
  r.last_error = std::string(s.text(8));
  if (auto t = s.optional_integer(9)) r.skipped_at = from_micros(*t);
  return u;
}

StoredEvent decode_row(UndecodedRow&& u) {
  u.row.event = decode_stored(u.metadata, {});
  u.row.event.data = std::move(u.payload);
  return std::move(u.row);
}

}  // namespace

StoredEvent read_row(const Statement& s) { return decode_row(read_undecoded(s)); }

std::vector<StoredEvent> read_rows(Statement& s) {
  std::vector<StoredEvent> rows;
  while (s.step()) rows.push_back(read_row(s));
  return rows;
}

std::vector<UndecodedRow> read_undecoded_rows(Statement& s) {
  std::vector<UndecodedRow> rows;
  while (s.step()) rows.push_back(read_undecoded(s));
  return rows;
}

std::vector<StoredEvent> decode_rows(std::vector<UndecodedRow>&& rows) {
  std::vector<StoredEvent> out;
  out.reserve(rows.size());
  for (auto& u : rows) out.push_back(decode_row(std::move(u)));
  return out;
}

}  // namespace herald::sqlite
