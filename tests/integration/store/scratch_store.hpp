#pragma once
// The store tests run the same bodies on every store built: a scratch store
// of each kind (a fresh SQLite file, a fresh PostgreSQL schema), and the
// application's own connection to it for the transactional APIs.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/bus.hpp"
#include "herald/event_store.hpp"

namespace herald::test {

/// "sqlite", and "postgres" when herald::postgres is built.
std::vector<std::string> store_kinds();

/// The application's own connection with a business table `orders` and a
/// table `effects` its idempotent handlers write to.
class AppConnection {
 public:
  virtual ~AppConnection() = default;
  virtual void begin() = 0;
  virtual void write_order(const std::string& id, const std::string& status) = 0;
  /// herald::sqlite::append / herald::postgres::append in the open transaction.
  virtual void append(Envelope& event) = 0;
  virtual void commit() = 0;
  virtual void rollback() = 0;
  virtual int count_orders() = 0;
  /// A handler through herald::<store>::idempotent that inserts one
  /// `effects` row per run in the mark's transaction, then throws when
  /// `fail` says so; duplicates go to `on_duplicate`.
  virtual Handler inbox(const std::string& group, std::function<bool(const Envelope&)> fail,
                        std::function<void(const Envelope&)> on_duplicate) = 0;
  virtual int count_effects(const std::string& event_id) = 0;
  /// Runs `sql` (no results wanted) outside any transaction.
  virtual void exec(const std::string& sql) = 0;
  /// The first column of the first row of `sql` as an integer.
  virtual long long scalar(const std::string& sql) = 0;
  /// Rows of two columns (text, integer).
  virtual std::vector<std::pair<std::string, long long>> pairs(const std::string& sql) = 0;
};

/// A fresh, empty database location; removed when destroyed.
class ScratchStore {
 public:
  explicit ScratchStore(std::string kind);
  ~ScratchStore();
  ScratchStore(const ScratchStore&) = delete;
  ScratchStore& operator=(const ScratchStore&) = delete;

  const std::string& kind() const { return kind_; }
  const std::string& url() const { return url_; }
  std::shared_ptr<EventStore> open() const { return open_event_store(url_); }
  /// The application's connection (the store must have been opened once:
  /// it creates the tables).
  std::unique_ptr<AppConnection> connect() const;

 private:
  std::string kind_;
  std::string url_;
  std::string location_;  // file path or schema name
};

/// The PostgreSQL test server (HERALD_TEST_PG_URL).
std::string pg_url();

}  // namespace herald::test
