#include <string>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/options.hpp"
#include "herald/ext/store.hpp"
#include "herald/sqlite/outbox.hpp"
#include "sqlite_store.hpp"

namespace herald::sqlite {

SqliteOptions read_options(std::string_view url) {
  StoreUrl u = StoreUrl::parse(url);
  SqliteOptions o;
  std::string_view rest = u.rest;
  if (rest.substr(0, 2) == "//") rest.remove_prefix(2);  // sqlite:///abs → /abs, sqlite://rel → rel
  o.path = std::string(rest);
  if (o.path.empty())
    throw ConfigError("sqlite url '" + redact_url(url) +
                      "': no database (sqlite:///abs/path.db, sqlite://relative.db or sqlite::memory:)");
  BusConfig query;
  query.options = u.query;
  OptionReader r(query, "sqlite");
  o.busy_timeout = r.duration("busy_timeout", o.busy_timeout);
  o.synchronous = r.choice("synchronous", o.synchronous, {"normal", "full", "off"});
  r.finish();
  return o;
}

DbHandle open_database(const SqliteOptions& o) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(o.path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) fail(db.get(), rc, "open '" + o.path + "'");
  check(db.get(), sqlite3_busy_timeout(db.get(), static_cast<int>(o.busy_timeout.count())), "busy_timeout");
  if (o.path != ":memory:") exec(db.get(), "PRAGMA journal_mode = WAL");
  exec(db.get(), ("PRAGMA synchronous = " + o.synchronous).c_str());
  ensure_schema(db.get());
  return db;
}

}  // namespace herald::sqlite
