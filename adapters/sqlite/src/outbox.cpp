// Appending to the outbox through the application's own connection.

#include "herald/sqlite/outbox.hpp"

#include "herald/errors.hpp"
#include "rows.hpp"

namespace herald::sqlite {

std::vector<std::int64_t> append(sqlite3* db, std::vector<Envelope>& events, std::string_view default_source) {
  return append(db, events, AppendOptions{.source = std::string(default_source)});
}

std::vector<std::int64_t> append(sqlite3* db, std::vector<Envelope>& events, const AppendOptions& options) {
  if (!db) throw ConfigError("sqlite::append: connection is null");
  if (events.empty()) return {};
  Statement insert(db, insert_sql);
  // A savepoint nests in the caller's transaction, or makes the batch one
  // transaction when none is open: never half a batch.
  Savepoint batch(db, "herald_append");
  auto positions = insert_events(db, insert, events, options);
  batch.release();
  return positions;
}

std::int64_t append(sqlite3* db, Envelope& event, std::string_view default_source) {
  std::vector<Envelope> one;
  one.push_back(std::move(event));
  std::int64_t position = 0;
  try {
    position = append(db, one, default_source).at(0);
  } catch (...) {
    event = std::move(one[0]);
    throw;
  }
  event = std::move(one[0]);
  return position;
}

std::int64_t append(sqlite3* db, Envelope&& event, std::string_view default_source) {
  Envelope e = std::move(event);
  return append(db, e, default_source);
}

}  // namespace herald::sqlite
