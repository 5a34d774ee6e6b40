// A relay process for the reliability tests: relays STORE_URL to an inline
// memory bus whose idempotent consumer records into the same database (or,
// given BUS_URL, to that broker, where the test consumes), until SIGTERM (or
// SIGKILL, which is the point).
//
//   store_relay_helper STORE_URL OWNER [BUS_URL]
//
// Tables (made by the test): deliveries(event_id, owner, aggregate, n) gets a
// row per handler run, in its own transaction, duplicates included;
// effects(event_id, grp) gets a row per event through the inbox (mark and
// effect in one transaction). Relay options come from HERALD_OUTBOX_*.

#include <signal.h>
#include <sqlite3.h>

#include <cstring>
#include <iostream>

#ifdef HERALD_TEST_WITH_POSTGRES
#include <pqxx/pqxx>

#include "herald/postgres/idempotent.hpp"
#endif

#include "herald/config.hpp"
#include "herald/relay.hpp"
#include "herald/sqlite/idempotent.hpp"

using namespace herald;

namespace {

// Records deliveries and runs the inbox, on the relay's thread (inline
// dispatch: the relay marks a row delivered only after the handler committed).
class Consumer {
 public:
  Consumer(const std::string& store_url, std::string owner) : owner_(std::move(owner)) {
    if (store_url.rfind("sqlite", 0) == 0) {
      std::string path = store_url.substr(std::strlen("sqlite://"));
      path = path.substr(0, path.find('?'));
      if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
      sqlite3_busy_timeout(db_, 30'000);
      sqlite3_exec(db_, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr);
      record_ = [this](const Envelope& e) {
        sqlite3_stmt* s = nullptr;
        sqlite3_prepare_v2(db_, "INSERT INTO deliveries(event_id, owner, aggregate, n) VALUES (?1, ?2, ?3, ?4)", -1, &s,
                           nullptr);
        sqlite3_bind_text(s, 1, e.id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, owner_.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, e.aggregateid.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 4, e.payload().at("n").get<int>());
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) throw std::runtime_error(std::string("deliveries: ") + sqlite3_errmsg(db_));
      };
      inbox_ = herald::sqlite::idempotent(db_, "consumer", [](sqlite3* tx, const Envelope& e) {
        sqlite3_stmt* s = nullptr;
        sqlite3_prepare_v2(tx, "INSERT INTO effects(event_id, grp) VALUES (?1, 'consumer')", -1, &s, nullptr);
        sqlite3_bind_text(s, 1, e.id.c_str(), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) throw std::runtime_error(std::string("effects: ") + sqlite3_errmsg(tx));
      });
      return;
    }
#ifdef HERALD_TEST_WITH_POSTGRES
    Url u = Url::parse(store_url);
    pg_ = std::make_unique<pqxx::connection>(store_url.substr(0, store_url.find('?')));
    {
      pqxx::nontransaction n(*pg_);
      n.exec("SET search_path TO " + n.quote_name(u.query.at("schema")));
      n.exec("SET synchronous_commit = off");  // the test kills the relay, not the database
    }
    record_ = [this](const Envelope& e) {
      pqxx::work tx(*pg_);
      tx.exec_params("INSERT INTO deliveries(event_id, owner, aggregate, n) VALUES ($1, $2, $3, $4)", e.id, owner_,
                     e.aggregateid, e.payload().at("n").get<int>());
      tx.commit();
    };
    inbox_ = herald::postgres::idempotent(store_url, "consumer", [](pqxx::transaction_base& tx, const Envelope& e) {
      tx.exec_params("INSERT INTO effects(event_id, grp) VALUES ($1, 'consumer')", e.id);
    });
#else
    throw std::runtime_error("this helper was built without PostgreSQL");
#endif
  }
  ~Consumer() {
    if (db_) sqlite3_close_v2(db_);
  }
  void operator()(const Envelope& e) {
    record_(e);
    inbox_(e);
  }

 private:
  std::string owner_;
  sqlite3* db_ = nullptr;
#ifdef HERALD_TEST_WITH_POSTGRES
  std::unique_ptr<pqxx::connection> pg_;
#endif
  std::function<void(const Envelope&)> record_;
  Handler inbox_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: store_relay_helper STORE_URL OWNER [BUS_URL]\n";
    return 2;
  }
  // SIGTERM is waited for, not handled asynchronously.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    auto store = open_event_store(argv[1]);
    std::unique_ptr<EventBus> bus;
    Subscription sub;
    if (argc == 4) {
      bus = make_bus(BusConfig::from_url(argv[3]));
    } else {
      bus = make_bus("memory://?dispatch=inline");
      auto consumer = std::make_shared<Consumer>(argv[1], argv[2]);
      sub = bus->subscribe({.pattern = "#", .group = "consumer"}, [consumer](const Envelope& e) { (*consumer)(e); });
    }
    RelayOptions options = RelayOptions::from_env();
    options.owner = argv[2];
    options.on_error = [](const std::string& error) { std::cerr << "relay helper: " << error << std::endl; };
    Relay relay(*store, *bus, options);
    std::cout << "ready" << std::endl;
    int received = 0;
    sigwait(&signals, &received);
    relay.stop();
    auto s = relay.stats();
    std::cout << "stopped: delivered " << s.delivered << " failed " << s.failed << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "relay helper: " << e.what() << std::endl;
    return 1;
  }
}
