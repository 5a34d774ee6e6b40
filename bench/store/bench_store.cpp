// Event store and relay throughput.
//   bench_store [relay_events [only]]   (default 50000; `only`: run the rows
//                                        whose label contains it, e.g. "sqlite -> kafka")
//
// Appends per second in transactions of 1 and of 100 events, on SQLite and
// PostgreSQL (HERALD_BENCH_PG_URL, default the test server), beside plain
// sqlite3 / libpq inserts of the same rows; relay throughput from each
// store to the memory transport and, when built with herald::kafka, to Kafka
// (HERALD_BENCH_KAFKA, default 127.0.0.1:9092; HERALD_BENCH_KAFKA_OPTIONS
// appends URL options, e.g. "&latency=low"). Goals: SQLite -> Kafka
// 150,000 events/s, PostgreSQL -> Kafka 50,000.

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>

#ifdef HERALD_BENCH_WITH_POSTGRES
#include <libpq-fe.h>

#include <pqxx/pqxx>
#endif

#include "herald/config.hpp"
#include "herald/event_store.hpp"
#include "herald/ext/store.hpp"
#include "herald/relay.hpp"
#include "herald/sqlite/outbox.hpp"
#include "stats.hpp"
#include "thread_cpu.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(rd() % 1'000'000'000);
}

Envelope sample_event(int n) {
  std::string order = std::to_string(n % 1000);
  Envelope e = Envelope::make("order.created", {{"orderId", order}, {"amount", 99.5}, {"currency", "EUR"}, {"n", n}},
                              "bench");
  e.aggregatetype = "order";
  e.aggregateid = order;
  e.partitionkey = order;
  return e;
}

/// A scratch store location: a SQLite file or a PostgreSQL schema, removed at the end.
class Scratch {
 public:
  Scratch(std::string kind) : kind_(std::move(kind)) {
    if (kind_ == "sqlite") {
      path_ = (std::filesystem::temp_directory_path() / ("herald-bench-" + unique_suffix() + ".db")).string();
      url_ = "sqlite://" + path_;
    } else {
      schema_ = "bench_" + unique_suffix();
      std::string base = env_or("HERALD_BENCH_PG_URL", "postgresql://herald:herald@127.0.0.1:5432/herald");
      url_ = base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
      base_ = base;
    }
  }
  ~Scratch() {
    if (!path_.empty())
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + s);
#ifdef HERALD_BENCH_WITH_POSTGRES
    if (!schema_.empty()) {
      try {
        pqxx::connection c(server_url());
        pqxx::nontransaction n(c);
        n.exec("DROP SCHEMA IF EXISTS " + n.quote_name(schema_) + " CASCADE");
      } catch (const std::exception&) {
      }
    }
#endif
  }
  const std::string& url() const { return url_; }
  const std::string& path() const { return path_; }
  const std::string& schema() const { return schema_; }
  /// The PostgreSQL server's URL without herald's options (for libpq itself).
  std::string server_url() const { return base_.substr(0, base_.find('?')); }

 private:
  std::string kind_, url_, path_, schema_, base_;
};

double appends_per_second(const std::string& kind, int batch, int total) {
  Scratch scratch(kind);
  auto store = open_event_store(scratch.url());
  // The batches are made before the clock starts, as the baseline's rows
  // are: copying them inside the timed loop charged herald for the bench's
  // own copies.
  std::vector<std::vector<Envelope>> chunks;
  for (int i = 0; i < total; i += batch) {
    chunks.emplace_back();
    for (int n = i; n < std::min(total, i + batch); ++n) chunks.back().push_back(sample_event(n));
  }
  auto start = SteadyClock::now();
  for (auto& chunk : chunks) store->append(chunk);
  return total / seconds_since(start);
}

// A baseline's rows: the columns herald writes, encoded before the clock
// starts (herald's append also validates and encodes them).
struct RawRow {
  std::string id, type, agg_type, agg_id, key, payload, metadata;
  std::int64_t time;
};
std::vector<RawRow> raw_rows(int total) {
  std::vector<RawRow> rows;
  for (int n = 0; n < total; ++n) {
    Envelope e = sample_event(n);
    rows.push_back({e.id, e.type, e.aggregatetype, e.aggregateid, ordering_key(e), e.data, encode_metadata(e),
                    to_micros(e.time)});
  }
  return rows;
}

// The same rows through plain sqlite3: one prepared INSERT.
double raw_sqlite_appends_per_second(int batch, int total) {
  Scratch scratch("sqlite");
  open_event_store(scratch.url());  // the same table and indexes
  sqlite3* db = nullptr;
  sqlite3_open(scratch.path().c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr);
  auto rows = raw_rows(total);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO herald_events(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, "
                     "occurred_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                     -1, &insert, nullptr);
  auto start = SteadyClock::now();
  for (int i = 0; i < total; i += batch) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (int j = i; j < std::min(total, i + batch); ++j) {
      const RawRow& r = rows[static_cast<std::size_t>(j)];
      sqlite3_bind_text(insert, 1, r.id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, r.type.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 3, r.agg_type.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, r.agg_id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 5, r.key.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 6, r.payload.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, r.metadata.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 8, r.time);
      sqlite3_bind_int64(insert, 9, r.time);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = total / seconds_since(start);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return rate;
}

#ifdef HERALD_BENCH_WITH_POSTGRES
// The same rows through plain libpq, as a hand-written outbox inserts them:
// one prepared INSERT a row, `batch` rows a transaction.
double raw_libpq_appends_per_second(int batch, int total) {
  Scratch scratch("postgres");
  open_event_store(scratch.url());  // the same table and indexes
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(scratch.server_url().c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) throw std::runtime_error("raw libpq: cannot connect");
  auto run = [&](PGresult* r) {
    auto status = PQresultStatus(r);
    std::string error = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw std::runtime_error("raw libpq: " + error);
  };
  run(PQexec(conn.get(), ("SET search_path = " + scratch.schema()).c_str()));
  // A hand-written outbox has no herald_pending to keep: herald's triggers
  // (schema 6) are off for the baseline, which then costs the least it can.
  run(PQexec(conn.get(), "ALTER TABLE herald_events DISABLE TRIGGER USER"));
  run(PQprepare(conn.get(), "insert",
                "INSERT INTO herald_events(id, type, aggregate_type, aggregate_id, ordering_key, payload, metadata, "
                "occurred_at, created_at) VALUES ($1, $2, $3, $4, $5, $6::json, $7::json, "
                "timestamptz 'epoch' + $8::bigint * interval '1 microsecond', "
                "timestamptz 'epoch' + $9::bigint * interval '1 microsecond') RETURNING position",
                9, nullptr));
  auto rows = raw_rows(total);
  std::vector<std::string> times;
  for (const auto& r : rows) times.push_back(std::to_string(r.time));
  auto start = SteadyClock::now();
  for (int i = 0; i < total; i += batch) {
    if (batch > 1) run(PQexec(conn.get(), "BEGIN"));
    for (int j = i; j < std::min(total, i + batch); ++j) {
      const RawRow& r = rows[static_cast<std::size_t>(j)];
      const std::string& t = times[static_cast<std::size_t>(j)];
      const char* values[9] = {r.id.c_str(), r.type.c_str(), r.agg_type.c_str(), r.agg_id.c_str(), r.key.c_str(),
                               r.payload.c_str(), r.metadata.c_str(), t.c_str(), t.c_str()};
      run(PQexecPrepared(conn.get(), "insert", 9, values, nullptr, nullptr, 0));
    }
    if (batch > 1) run(PQexec(conn.get(), "COMMIT"));
  }
  return total / seconds_since(start);
}
#endif

struct RelayResult {
  double per_second = 0;
  double cpu_us = 0;  // this process's CPU (every thread) per event relayed
  double idle = 0;    // the machine's idle share meanwhile (the broker's JVM, the disk's waits)
  RelayStats stats;
};

// Fills the store (not timed), then relays everything to `bus` and waits
// until the transport has it (memory: handled; Kafka: acknowledged).
RelayResult relay_rate(const std::string& kind, EventBus& bus, int total, const std::function<std::size_t()>& received) {
  Scratch scratch(kind);
  auto store = open_event_store(scratch.url());
  for (int i = 0; i < total; i += 1000) {
    std::vector<Envelope> chunk;
    for (int n = i; n < std::min(total, i + 1000); ++n) chunk.push_back(sample_event(n));
    store->append(chunk);
  }
  RelayOptions options;
  options.batch_size = 1000;
  options.owner = "bench";
  RelayResult result;
  std::size_t before = received ? received() : 0;
  const double cpu0 = cpu_seconds();
  const MachineCpu machine0 = MachineCpu::now();
  auto start = SteadyClock::now();
  while (store->count_pending() > 0) result.stats += relay_pass(*store, bus, options);
  if (!bus.flush(std::chrono::seconds(60))) throw std::runtime_error("the transport did not take every event in 60 s");
  if (received) {
    auto deadline = SteadyClock::now() + std::chrono::seconds(60);
    while (received() - before < static_cast<std::size_t>(total) && SteadyClock::now() < deadline) {
    }
  }
  result.per_second = total / seconds_since(start);
  result.cpu_us = (cpu_seconds() - cpu0) * 1e6 / total;
  result.idle = machine0.idle_share_until(MachineCpu::now());
  if (result.stats.delivered != static_cast<std::uint64_t>(total))
    throw std::runtime_error("relay delivered " + std::to_string(result.stats.delivered) + " of " + std::to_string(total));
  return result;
}

std::string& only() {
  static std::string filter;
  return filter;
}

// Relay rounds: a broker or database just started (scripts/bench starts
// them) is slower in its first seconds (the JVM compiling, caches filling).
constexpr int relay_rounds = 3;

struct RoundsRate {
  double median = 0, low = 0, high = 0;
  double cpu_us = 0, idle = 0;  // medians of the rounds'
};

RoundsRate relay_rounds_rate(const std::string& kind, EventBus& bus, int total,
                             const std::function<std::size_t()>& received) {
  std::vector<double> rates, cpu, idle;
  for (int r = 0; r < relay_rounds; ++r) {
    RelayResult one = relay_rate(kind, bus, total, received);
    rates.push_back(one.per_second);
    cpu.push_back(one.cpu_us);
    idle.push_back(one.idle);
  }
  return {median(rates), *std::min_element(rates.begin(), rates.end()), *std::max_element(rates.begin(), rates.end()),
          median(cpu), median(idle)};
}

void print_relay_cpu(const RoundsRate& r) {
  std::printf("  %-34s CPU %.2f us per event (all threads), machine idle %.0f%% (medians)\n", "", r.cpu_us, r.idle * 100);
}

template <class F>
void row(const char* label, F&& f) {
  if (std::string(label).find(only()) == std::string::npos) return;
  try {
    f();
  } catch (const std::exception& e) {
    std::printf("  %-34s FAILED: %s\n", label, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench_name() = "store";
  int relay_events = argc > 1 ? std::atoi(argv[1]) : 50'000;
  if (relay_events <= 0) {
    std::fprintf(stderr, "usage: bench_store [relay_events [only]]\n");
    return 2;
  }
  if (argc > 2) only() = argv[2];
  std::vector<std::string> kinds{"sqlite"};
#ifdef HERALD_BENCH_WITH_POSTGRES
  kinds.push_back("postgres");
#endif

  std::printf("appends (each batch one transaction of the store's own)\n");
  for (const auto& kind : kinds) {
    for (int batch : {1, 100}) {
      int total = batch == 1 ? 2'000 : 20'000;
      std::string label = kind + ", " + std::to_string(batch) + " per transaction";
      row(label.c_str(), [&] {
        // Rounds, each herald and the raw client in turn (the first one
        // alternating): the disk's pace moves between runs by more than
        // the difference measured, so only a round's own pair compares.
        std::function<double(int, int)> raw_appends = raw_sqlite_appends_per_second;
        std::string raw_name = "raw sqlite3";
#ifdef HERALD_BENCH_WITH_POSTGRES
        if (kind == "postgres") {
          raw_appends = raw_libpq_appends_per_second;
          raw_name = "raw libpq";
        }
#endif
        const int rounds = kind == "sqlite" ? 9 : 5;
        std::vector<double> rates, raws, ratios;
        for (int r = 0; r < rounds; ++r) {
          double rate = 0, raw = 0;
          if (r % 2) raw = raw_appends(batch, total);
          rate = appends_per_second(kind, batch, total);
          if (r % 2 == 0) raw = raw_appends(batch, total);
          rates.push_back(rate);
          raws.push_back(raw);
          ratios.push_back(rate / raw);
        }
        const double rate = median(rates), raw = median(raws);
        record_result("append: " + label, "events/s", rate, raw, raw_name + " inserts", 0);
        std::printf("  %-34s herald %12.0f/s   %-11s %12.0f/s   (medians of %d rounds)\n", label.c_str(), rate,
                    raw_name.c_str(), raw, rounds);
        print_round_ratios("append: " + label, ratios, batch > 1 ? 0.9 : 0, raw_name + " inserts");
      });
    }
  }

  std::printf("relay (store -> transport, batches of 1000, %d events, median of %d rounds)\n", relay_events,
              relay_rounds);
  for (const auto& kind : kinds) {
    std::string label = kind + " -> memory";
    row(label.c_str(), [&] {
      auto bus = make_bus("memory://?workers=1");
      std::atomic<std::size_t> handled{0};
      auto sub = bus->subscribe({.pattern = "order.*", .group = "bench"}, [&](const Envelope&) { ++handled; });
      auto r = relay_rounds_rate(kind, *bus, relay_events, [&] { return handled.load(); });
      record_result("relay: " + label, "events/s", r.median, 0, "", 0);
      std::printf("  %-34s %12.0f events/s  (rounds %.0f-%.0f)\n", label.c_str(), r.median, r.low, r.high);
      print_relay_cpu(r);
    });
  }
#ifdef HERALD_BENCH_WITH_KAFKA
  for (const auto& kind : kinds) {
    std::string label = kind + " -> kafka";
    row(label.c_str(), [&] {
      // One topic for every run (herald-bench-store.order): nothing consumes it.
      std::string url = "kafka://" + env_or("HERALD_BENCH_KAFKA", "127.0.0.1:9092") + "?topic_prefix=herald-bench-store." + env_or("HERALD_BENCH_KAFKA_OPTIONS", "");
      auto bus = make_bus(url);
      // Warm: the producer's connection, metadata and idempotence id are
      // the first publish's (seconds on a broker just started), not the relay's.
      bus->publish(sample_event(-1));
      if (!bus->flush(std::chrono::seconds(60))) throw std::runtime_error("Kafka did not take the warm-up event in 60 s");
      auto r = relay_rounds_rate(kind, *bus, relay_events, nullptr);
      const double goal = kind == "sqlite" ? 150'000 : 50'000;
      record_result("relay: " + label, "events/s", r.median, 0, "", goal);
      std::printf("  %-34s %12.0f events/s  (rounds %.0f-%.0f; goal >= %.0f/s: %s)\n", label.c_str(), r.median, r.low,
                  r.high, goal, r.median >= goal ? "met" : "NOT met");
      print_relay_cpu(r);
    });
  }
#else
  std::printf("  (kafka: not built; configure with herald::kafka for SQLite -> Kafka)\n");
#endif
  return 0;
}
