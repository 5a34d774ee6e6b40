// The event store itself: round trip, positions, schema, timeline, scans.

#include <catch2/catch.hpp>

#include <filesystem>

#include "wait.hpp"

#include "herald/errors.hpp"
#include "herald/config.hpp"
#include "herald/ext/store.hpp"
#include "sample_event.hpp"
#include "scratch_store.hpp"

using namespace herald;
using namespace herald::test;

namespace {

Envelope order_event(const std::string& type, const std::string& order_id, int n = 0) {
  Envelope e = Envelope::make(type, {{"order_id", order_id}, {"n", n}}, "orders");
  e.aggregatetype = "order";
  e.aggregateid = order_id;
  e.partitionkey = order_id;
  return e;
}

}  // namespace

TEST_CASE("an appended event reads back exactly as it was written", "[store]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();

  Envelope e = every_attribute_event();
  e.data = R"({"order_id":"42",  "total":12.5,"items":["a","b"]})";  // spacing kept as written

  Envelope no_data = Envelope::make("order.archived", nullptr, "orders");
  no_data.datacontenttype = "text/plain";
  Envelope no_content_type = Envelope::make("order.noted", {{"note", "x"}}, "orders");
  no_content_type.datacontenttype.clear();

  std::vector<Envelope> batch{e, no_data, no_content_type};
  auto positions = store->append(batch);
  REQUIRE(positions.size() == 3);
  CHECK(positions[1] > positions[0]);

  auto found = store->find(e.id);
  REQUIRE(found);
  CHECK(found->event == e);
  CHECK(found->position == positions[0]);
  CHECK(found->pending());
  CHECK(found->delivery_attempts == 0);
  CHECK(store->get(no_data.id).event == no_data);
  CHECK(store->get(no_content_type.id).event == no_content_type);

  // Alone, an event goes through the single-row statement (on PostgreSQL a
  // prepared one, outside a transaction): the same round trip.
  Envelope alone = every_attribute_event();
  alone.id.clear();  // a new one, filled by append
  Envelope alone_no_data = Envelope::make("order.archived", nullptr, "orders");
  auto one = store->append(alone);
  CHECK(one > positions[2]);
  CHECK(store->append(alone_no_data) == one + 1);
  CHECK(store->get(alone.id).event == alone);
  CHECK(store->get(alone_no_data.id).event == alone_no_data);
}

TEST_CASE("append fills id, time and source, and refuses an invalid event whole", "[store]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  Envelope bare;
  bare.type = "order.created";
  bare.data = "{}";
  store->append(bare);
  CHECK_FALSE(bare.id.empty());
  CHECK(bare.source == "herald");
  CHECK(bare.time.time_since_epoch().count() > 0);

  std::vector<Envelope> batch{order_event("order.created", "1"), order_event("order.*", "1")};
  CHECK_THROWS_AS(store->append(batch), ConfigError);
  CHECK(store->status().last_position == 1);  // nothing of the bad batch

  Envelope again = bare;
  CHECK_THROWS_AS(store->append(again), StoreError);  // same id twice
}

TEST_CASE("append refuses data over the configured max_data_bytes with a DecodeError naming data", "[store][limits]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  const AppendOptions small{.source = "/orders", .limits = {.max_data_bytes = 2048}};

  std::vector<Envelope> batch{Envelope::make("blob.stored", std::string(1000, 'x')),
                              Envelope::make("blob.stored", std::string(3000, 'x'))};
  try {
    store->append(batch, small);
    FAIL("oversize data was appended");
  } catch (const DecodeError& ex) {
    CHECK(ex.field() == "data");
    CHECK_THAT(ex.what(), Catch::Contains("exceeds the limit of 2048"));
  }
  CHECK(store->status().last_position == 0);  // nothing of the batch

  Envelope fits = Envelope::make("blob.stored", std::string(1000, 'x'));
  store->append(fits, small);
  CHECK(fits.source == "/orders");
  CHECK(store->get(fits.id).event.source == "/orders");

  // Larger than the default limit (1 MiB), within a configured one.
  Envelope large = Envelope::make("blob.stored", std::string(1536 * 1024, 'x'));
  CHECK_THROWS_AS(store->append(Envelope(large)), DecodeError);
  store->append(large, {.limits = {.max_data_bytes = 2 * 1024 * 1024}});
  CHECK(store->get(large.id).event.data.size() == large.data.size());
}

TEST_CASE("find returns nothing for an unknown id and get says which id", "[store]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  CHECK_FALSE(store->find("nope"));
  try {
    store->get("nope");
    FAIL("get of an unknown id did not throw");
  } catch (const NotFoundError& e) {
    CHECK_THAT(e.what(), Catch::Contains("'nope'"));
  }
}

TEST_CASE("reopening a store keeps its events and positions keep increasing", "[store]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  std::int64_t first = 0;
  {
    auto store = scratch.open();
    first = store->append(order_event("order.created", "7"));
  }
  auto again = scratch.open();  // the schema is there: no migration, no error
  auto second = again->append(order_event("order.paid", "7"));
  CHECK(second > first);
  CHECK(again->status().last_position == second);
  CHECK(again->find(again->scan({}, 0, 10).events.at(0).event.id));
}

TEST_CASE("the timeline of an aggregate pages with a cursor", "[store][timeline]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  std::vector<Envelope> events;
  for (int i = 0; i < 25; ++i) {
    events.push_back(order_event("order.updated", "42", i));
    events.push_back(order_event("order.updated", "43", i));  // interleaved, another aggregate
  }
  store->append(events);

  std::vector<int> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store->timeline("order", "42", cursor, 10);
    for (const auto& row : page.events) {
      CHECK(row.event.aggregateid == "42");
      seen.push_back(row.event.payload().at("n").get<int>());
    }
    cursor = page.next_cursor;
    ++pages;
  } while (!cursor.empty());
  CHECK(pages == 3);
  std::vector<int> expected(25);
  for (int i = 0; i < 25; ++i) expected[static_cast<std::size_t>(i)] = i;
  CHECK(seen == expected);

  CHECK(store->timeline("order", "999").events.empty());
  CHECK_THROWS_AS(store->timeline("order", "42", "not-a-cursor"), ConfigError);
  CHECK_THROWS_AS(store->timeline("order", "42", "", 0), ConfigError);
}

TEST_CASE("a scan filters by position range, type pattern and aggregate", "[store][replay]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  std::vector<Envelope> events;
  for (int i = 1; i <= 30; ++i)
    events.push_back(order_event(i % 3 == 0 ? "payment.failed" : "order.created", std::to_string(i % 5), i));
  store->append(events);

  auto collect = [&](EventFilter f, std::size_t step) {
    std::vector<int> ns;
    std::int64_t after = 0;
    while (true) {
      auto r = store->scan(f, after, step);
      for (const auto& row : r.events) ns.push_back(row.event.payload().at("n").get<int>());
      REQUIRE(r.scanned_to >= after);
      after = r.scanned_to;
      if (r.finished) break;
    }
    return ns;
  };
  CHECK(collect({.from_position = 5, .to_position = 9}, 2) == std::vector<int>{5, 6, 7, 8, 9});
  CHECK(collect({.type_pattern = "payment.#"}, 4) == std::vector<int>{3, 6, 9, 12, 15, 18, 21, 24, 27, 30});
  CHECK(collect({.type_pattern = "order.created", .aggregate_type = "order", .aggregate_id = "2"}, 3) ==
        std::vector<int>{2, 7, 17, 22});
  CHECK_THROWS_AS(store->scan({.from_position = 9, .to_position = 5}, 0, 10), ConfigError);
  CHECK_THROWS_AS(store->scan({.type_pattern = "order..x"}, 0, 10), ConfigError);
}

TEST_CASE("a store URL with an unknown scheme or option is refused by name", "[store][config]") {
  CHECK_THROWS_WITH(open_event_store("mysql://localhost/db"), Catch::Contains("unknown store 'mysql:'") &&
                                                                  Catch::Contains("sqlite"));
  CHECK_THROWS_WITH(open_event_store("sqlite::memory:?colour=blue"), Catch::Contains("unknown option 'colour'"));
  CHECK_THROWS_WITH(open_event_store("sqlite://"), Catch::Contains("no database"));
  auto memory = open_event_store("sqlite::memory:");
  CHECK(memory->status().last_position == 0);
  CHECK(memory->describe() == "sqlite::memory:");
}

TEST_CASE("a SQLite store copies its write-ahead log back into the database while it is written", "[store][sqlite]") {
  // The store's own thread does it (a commit only wakes it): the commit that
  // would have done it inline holds the store's lock meanwhile.
  ScratchStore scratch("sqlite");
  auto store = scratch.open();
  const std::string path = scratch.url().substr(std::string("sqlite://").size());
  auto size = [](const std::string& file) -> std::uintmax_t {
    std::error_code ec;
    auto n = std::filesystem::file_size(file, ec);
    return ec ? 0 : n;
  };
  const std::uintmax_t before = size(path);
  // About 4 MB of rows: a WAL several times past the mark that wakes the
  // thread, and below the one past which a commit checkpoints by itself.
  for (int batch = 0; batch < 60; ++batch) {
    std::vector<Envelope> events;
    for (int i = 0; i < 100; ++i) events.push_back(Envelope::make("order.placed", {{"pad", std::string(600, 'x')}}));
    store->append(events);
  }
  INFO("database " << size(path) << " bytes, WAL " << size(path + "-wal") << " bytes");
  CHECK(wait_until([&] { return size(path) > before + 3'000'000; }, std::chrono::seconds(20)));
  // Copied back, the WAL is written again from its start: it stays near the mark.
  CHECK(size(path + "-wal") < 10'000 * 4096);
  CHECK(store->count_pending() == 6000);
}

#ifdef HERALD_TEST_WITH_POSTGRES
TEST_CASE("a refused PostgreSQL login does not show the password", "[store][postgres]") {
  Url server = Url::parse(pg_url());
  auto url = "postgresql://herald:wr0ngSecret@" + server.host + ":" + std::to_string(server.port ? server.port : 5432) +
             "/" + server.path + "?schema=nope";
  try {
    open_event_store(url);
    FAIL("a wrong password was accepted");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), !Catch::Contains("wr0ngSecret"));
    CHECK_THAT(e.what(), Catch::Contains("herald:***@"));
  }
}
#endif
