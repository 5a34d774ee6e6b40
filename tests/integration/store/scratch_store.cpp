#include "scratch_store.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#ifdef HERALD_TEST_WITH_POSTGRES
#include <pqxx/pqxx>

#include "herald/postgres/idempotent.hpp"
#include "herald/postgres/outbox.hpp"
#endif

#include "herald/sqlite/idempotent.hpp"
#include "herald/sqlite/outbox.hpp"
#include "wait.hpp"

namespace herald::test {

std::vector<std::string> store_kinds() {
#ifdef HERALD_TEST_WITH_POSTGRES
  return {"sqlite", "postgres"};
#else
  return {"sqlite"};
#endif
}

std::string pg_url() { return env_or("HERALD_TEST_PG_URL", "postgresql://herald:herald@127.0.0.1:5432/herald"); }

namespace {

std::string identifier(std::string name) {
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

void sqlite_exec(sqlite3* db, const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "?";
    sqlite3_free(error);
    throw std::runtime_error("sqlite: " + sql + ": " + message);
  }
}

class SqliteApp final : public AppConnection {
 public:
  explicit SqliteApp(const std::string& path) {
    sqlite3* raw = nullptr;
    if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
    db_.reset(raw);
    sqlite3_busy_timeout(db_.get(), 10'000);
    sqlite_exec(db_.get(), "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, status TEXT NOT NULL)");
    sqlite_exec(db_.get(), "CREATE TABLE IF NOT EXISTS effects (event_id TEXT NOT NULL, grp TEXT NOT NULL)");
  }
  void begin() override { sqlite_exec(db_.get(), "BEGIN IMMEDIATE"); }
  void write_order(const std::string& id, const std::string& status) override {
    sqlite_exec(db_.get(), "INSERT OR REPLACE INTO orders VALUES ('" + id + "', '" + status + "')");
  }
  void append(Envelope& event) override { herald::sqlite::append(db_.get(), event); }
  void commit() override { sqlite_exec(db_.get(), "COMMIT"); }
  void rollback() override { sqlite_exec(db_.get(), "ROLLBACK"); }
  int count_orders() override { return count("SELECT count(*) FROM orders"); }
  Handler inbox(const std::string& group, std::function<bool(const Envelope&)> fail,
                std::function<void(const Envelope&)> on_duplicate) override {
    return herald::sqlite::idempotent(db_.get(), group, [group, fail](sqlite3* tx, const Envelope& e) {
      sqlite_exec(tx, "INSERT INTO effects VALUES ('" + e.id + "', '" + group + "')");
      if (fail && fail(e)) throw std::runtime_error("handler failed after its write");
    }, {.on_duplicate = on_duplicate});
  }
  int count_effects(const std::string& event_id) override {
    return count("SELECT count(*) FROM effects WHERE event_id = '" + event_id + "'");
  }
  void exec(const std::string& sql) override { sqlite_exec(db_.get(), sql); }
  long long scalar(const std::string& sql) override {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error("sqlite: " + sql + ": " + sqlite3_errmsg(db_.get()));
    long long n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
  }
  std::vector<std::pair<std::string, long long>> pairs(const std::string& sql) override {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error("sqlite: " + sql + ": " + sqlite3_errmsg(db_.get()));
    std::vector<std::pair<std::string, long long>> rows;
    while (sqlite3_step(s) == SQLITE_ROW)
      rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return rows;
  }

 private:
  int count(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
  }
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

#ifdef HERALD_TEST_WITH_POSTGRES
class PgApp final : public AppConnection {
 public:
  PgApp(std::string url, const std::string& schema) : url_(std::move(url)), conn_(pg_url()) {
    pqxx::nontransaction n(conn_);
    n.exec("SET search_path TO " + n.quote_name(schema));
    n.exec("CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, status text NOT NULL)");
    n.exec("CREATE TABLE IF NOT EXISTS effects (event_id text NOT NULL, grp text NOT NULL)");
  }
  void begin() override { tx_ = std::make_unique<pqxx::work>(conn_); }
  void write_order(const std::string& id, const std::string& status) override {
    tx_->exec_params("INSERT INTO orders VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET status = excluded.status", id,
                     status);
  }
  void append(Envelope& event) override { herald::postgres::append(*tx_, event); }
  void commit() override {
    tx_->commit();
    tx_.reset();
  }
  void rollback() override {
    tx_->abort();
    tx_.reset();
  }
  int count_orders() override { return count("SELECT count(*) FROM orders"); }
  Handler inbox(const std::string& group, std::function<bool(const Envelope&)> fail,
                std::function<void(const Envelope&)> on_duplicate) override {
    return herald::postgres::idempotent(url_, group, [group, fail](pqxx::transaction_base& tx, const Envelope& e) {
      tx.exec_params("INSERT INTO effects VALUES ($1, $2)", e.id, group);
      if (fail && fail(e)) throw std::runtime_error("handler failed after its write");
    }, {.on_duplicate = on_duplicate});
  }
  int count_effects(const std::string& event_id) override {
    pqxx::read_transaction tx(conn_);
    return tx.exec_params("SELECT count(*) FROM effects WHERE event_id = $1", event_id)[0][0].as<int>();
  }
  void exec(const std::string& sql) override {
    pqxx::nontransaction n(conn_);
    n.exec(sql);
  }
  long long scalar(const std::string& sql) override {
    pqxx::read_transaction tx(conn_);
    return tx.exec(sql)[0][0].as<long long>();
  }
  std::vector<std::pair<std::string, long long>> pairs(const std::string& sql) override {
    pqxx::read_transaction tx(conn_);
    std::vector<std::pair<std::string, long long>> rows;
    for (const auto& row : tx.exec(sql)) rows.emplace_back(row[0].as<std::string>(), row[1].as<long long>());
    return rows;
  }

 private:
  int count(const std::string& sql) {
    pqxx::read_transaction tx(conn_);
    return tx.exec(sql)[0][0].as<int>();
  }
  std::string url_;
  pqxx::connection conn_;
  std::unique_ptr<pqxx::work> tx_;
};
#endif

}  // namespace

ScratchStore::ScratchStore(std::string kind) : kind_(std::move(kind)) {
  if (kind_ == "sqlite") {
    location_ = (std::filesystem::temp_directory_path() / (identifier(unique_name("herald-store")) + ".db")).string();
    url_ = "sqlite://" + location_;  // location_ is absolute: sqlite:///tmp/...
  } else if (kind_ == "postgres") {
    location_ = identifier(unique_name("t"));
    url_ = pg_url() + (pg_url().find('?') == std::string::npos ? "?" : "&") + "schema=" + location_;
  } else {
    throw std::invalid_argument("unknown store kind " + kind_);
  }
}

ScratchStore::~ScratchStore() {
  if (kind_ == "sqlite") {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((location_ + suffix).c_str());
  }
#ifdef HERALD_TEST_WITH_POSTGRES
  if (kind_ == "postgres") {
    try {
      pqxx::connection c(pg_url());
      pqxx::nontransaction n(c);
      n.exec("DROP SCHEMA IF EXISTS " + n.quote_name(location_) + " CASCADE");
    } catch (const std::exception&) {
      // The server may be down on purpose (reliability tests); the schema stays.
    }
  }
#endif
}

std::unique_ptr<AppConnection> ScratchStore::connect() const {
#ifdef HERALD_TEST_WITH_POSTGRES
  if (kind_ == "postgres") return std::make_unique<PgApp>(url_, location_);
#endif
  return std::make_unique<SqliteApp>(location_);
}

}  // namespace herald::test
