// The processes scripts/soak runs, and its tally.
//
//   herald_soak_worker publish BUS_URL TYPE LEDGER RATE [STORE_URL]
//       Publishes TYPE events (RATE a second) until SIGTERM; with STORE_URL
//       appends them to that outbox store instead (a relay delivers them).
//       An event is written to LEDGER (one id a line) once the transport or
//       the store accepted it; a refused one is tried again with the same id.
//   herald_soak_worker consume BUS_URL PATTERN GROUP DB
//       Applies events through the SQLite inbox until SIGTERM: the mark and
//       the effect (a row in `applied`) commit in one transaction, so a
//       redelivery after a kill -9 has no second effect. Each handler run is
//       also written to DB.runs (one id a line, redeliveries included).
//       Prints "ready".
//   herald_soak_worker memory LEDGER DB SECONDS RATE
//       Both in one process on the memory transport (nothing there survives
//       a kill, so nothing is killed), until SIGTERM or SECONDS passed.
//   herald_soak_worker report NAME LEDGER DB
//       One line: published, delivered, lost, applied twice, handler runs
//       (redeliveries included), events not in the ledger.
//       Exits 1 when lost or applied twice is not 0.

#include <signal.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "herald/config.hpp"
#include "herald/event_store.hpp"
#include "herald/sqlite/idempotent.hpp"
#include "herald/sqlite/outbox.hpp"

using namespace herald;

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_stop(int) { stop_requested = true; }

void stop_on_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, SqliteCloser>;

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "?";
    sqlite3_free(error);
    throw std::runtime_error(std::string(sql) + ": " + message);
  }
}

Db open_db(const std::string& path) {
  sqlite3* raw = nullptr;
  if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK) {
    sqlite3_close_v2(raw);
    throw std::runtime_error("cannot open " + path);
  }
  Db db(raw);
  sqlite3_busy_timeout(db.get(), 30'000);
  exec(db.get(), "PRAGMA journal_mode = WAL");
  herald::sqlite::ensure_schema(db.get());
  exec(db.get(), "CREATE TABLE IF NOT EXISTS applied (event_id TEXT NOT NULL)");
  return db;
}

// The effect: one row per application, deliberately without a unique key so
// that applying an event twice would show.
Handler inbox(sqlite3* db, const std::string& group) {
  return herald::sqlite::idempotent(db, group, [](sqlite3* tx, const Envelope& e) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(tx, "INSERT INTO applied(event_id) VALUES (?1)", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, e.id.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("applied: ") + sqlite3_errmsg(tx));
  });
}

class Ledger {
 public:
  explicit Ledger(const std::string& path) : file_(std::fopen(path.c_str(), "a")) {
    if (!file_) throw std::runtime_error("cannot open " + path);
  }
  ~Ledger() { std::fclose(file_); }
  void accepted(const std::string& id) {
    std::fprintf(file_, "%s\n", id.c_str());
    std::fflush(file_);
  }

 private:
  std::FILE* file_;
};

// Handler runs are written before the inbox sees them: a run cut short by
// a kill -9 counts as a run, its redelivery as another.
Handler recording_runs(Handler inner, std::shared_ptr<Ledger> runs) {
  return [inner = std::move(inner), runs = std::move(runs)](const Envelope& e) {
    runs->accepted(e.id);
    inner(e);
  };
}

Envelope next_event(const std::string& type, long n) {
  Envelope e = Envelope::make(type, {{"n", n}}, "/soak");
  e.partitionkey = "k" + std::to_string(n % 16);
  e.aggregatetype = "soak";
  e.aggregateid = e.partitionkey;
  return e;
}

// Paces a loop to `rate` a second without drifting.
class Pace {
 public:
  explicit Pace(double rate) : step_(std::chrono::duration<double>(1.0 / rate)), next_(clock::now()) {}
  void wait() {
    next_ += std::chrono::duration_cast<clock::duration>(step_);
    std::this_thread::sleep_until(next_);
  }

 private:
  using clock = std::chrono::steady_clock;
  std::chrono::duration<double> step_;
  clock::time_point next_;
};

int publish(const std::string& bus_url, const std::string& type, const std::string& ledger_path, double rate,
            const std::string& store_url) {
  stop_on_signals();
  Ledger ledger(ledger_path);
  std::shared_ptr<EventStore> store;
  std::unique_ptr<EventBus> bus;
  if (!store_url.empty())
    store = open_event_store(store_url);
  else
    bus = make_bus(BusConfig::from_url(bus_url));
  std::cout << "ready" << std::endl;
  Pace pace(rate);
  long failures = 0;
  for (long n = 0; !stop_requested; ++n) {
    Envelope e = next_event(type, n);
    while (!stop_requested) {
      try {
        if (store)
          store->append(e);
        else
          bus->publish(e);
        ledger.accepted(e.id);
        break;
      } catch (const std::exception& ex) {
        // The broker is down (the soak kills it): same event, same id, again.
        if (failures++ % 20 == 0) std::cerr << "publish " << type << ": " << ex.what() << " (retrying)" << std::endl;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    pace.wait();
  }
  if (bus) bus->close();
  return 0;
}

int consume(const std::string& bus_url, const std::string& pattern, const std::string& group,
            const std::string& db_path) {
  stop_on_signals();
  Db db = open_db(db_path);
  auto bus = make_bus(BusConfig::from_url(bus_url));
  auto runs = std::make_shared<Ledger>(db_path + ".runs");
  auto sub = bus->subscribe({.pattern = pattern, .group = group}, recording_runs(inbox(db.get(), group), runs));
  std::cout << "ready" << std::endl;
  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sub.cancel();
  bus->close();
  return 0;
}

int memory(const std::string& ledger_path, const std::string& db_path, double seconds, double rate) {
  stop_on_signals();
  Ledger ledger(ledger_path);
  Db db = open_db(db_path);
  auto bus = make_bus("memory://");
  auto runs = std::make_shared<Ledger>(db_path + ".runs");
  auto sub = bus->subscribe({.pattern = "soak.#", .group = "soak"}, recording_runs(inbox(db.get(), "soak"), runs));
  std::cout << "ready" << std::endl;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                     std::chrono::duration<double>(seconds));
  Pace pace(rate);
  for (long n = 0; !stop_requested && std::chrono::steady_clock::now() < end; ++n) {
    Envelope e = next_event("soak.memory", n);
    bus->publish(e);
    ledger.accepted(e.id);
    pace.wait();
  }
  bool drained = bus->flush(std::chrono::seconds(60));
  sub.cancel();
  bus->close();
  if (!drained) std::cerr << "memory: not drained within 60 s" << std::endl;
  return 0;
}

int report(const std::string& name, const std::string& ledger_path, const std::string& db_path) {
  std::set<std::string> published;
  {
    std::ifstream in(ledger_path);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) published.insert(line);
  }
  std::map<std::string, int> applied;
  {
    Db db = open_db(db_path);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db.get(), "SELECT event_id, count(*) FROM applied GROUP BY event_id", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW)
      applied[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = sqlite3_column_int(s, 1);
    sqlite3_finalize(s);
  }
  std::size_t runs = 0;
  {
    std::ifstream in(db_path + ".runs");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) ++runs;
  }
  std::size_t lost = 0, twice = 0, extra = 0;
  for (const auto& id : published)
    if (!applied.count(id)) ++lost;
  for (const auto& [id, n] : applied) {
    if (n > 1) ++twice;
    // Accepted by the broker while the publisher saw an error and was then
    // stopped before its retry: delivered, not in the ledger. Not a loss.
    if (!published.count(id)) ++extra;
  }
  std::printf("%-9s published %7zu  delivered %7zu  lost %5zu  applied twice %5zu  handler runs %7zu  unledgered %3zu\n",
              name.c_str(), published.size(), applied.size(), lost, twice, runs, extra);
  return lost == 0 && twice == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "publish" && (argc == 6 || argc == 7))
      return publish(argv[2], argv[3], argv[4], std::stod(argv[5]), argc == 7 ? argv[6] : "");
    if (mode == "consume" && argc == 6) return consume(argv[2], argv[3], argv[4], argv[5]);
    if (mode == "memory" && argc == 6) return memory(argv[2], argv[3], std::stod(argv[4]), std::stod(argv[5]));
    if (mode == "report" && argc == 5) return report(argv[2], argv[3], argv[4]);
  } catch (const std::exception& e) {
    std::cerr << "herald_soak_worker " << mode << ": " << e.what() << std::endl;
    return 1;
  }
  std::cerr << "usage: herald_soak_worker publish BUS_URL TYPE LEDGER RATE [STORE_URL]\n"
               "       herald_soak_worker consume BUS_URL PATTERN GROUP DB\n"
               "       herald_soak_worker memory LEDGER DB SECONDS RATE\n"
               "       herald_soak_worker report NAME LEDGER DB\n";
  return 2;
}
