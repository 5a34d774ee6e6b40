#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>

#include "../../examples/orders/events.hpp"
#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/typed.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

const std::string events_dir = std::string(HERALD_SCHEMA_DIR) + "/events";

std::shared_ptr<const Catalog> orders_catalog(CatalogOptions options = {}) {
  return std::make_shared<const Catalog>(Catalog::load(events_dir, options));
}

std::unique_ptr<EventBus> bus_with(std::shared_ptr<const Catalog> catalog, const std::string& url = "memory://") {
  BusConfig c = BusConfig::from_url(url);
  c.decode.catalog = std::move(catalog);
  return make_bus(c);
}

Envelope order_created(nlohmann::json data) {
  Envelope e = Envelope::make("order.created", data, "tests");
  e.dataversion = 2;
  return e;
}

// Someone "simplified" the currency to a number code in the struct only.
struct DriftedOrderCreated {
  static constexpr std::string_view event_type = "order.created";
  static constexpr int event_version = 2;
  std::string order_id;
  std::string customer;
  double total = 0;
  int currency = 978;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(DriftedOrderCreated, order_id, customer, total, currency)
};
struct Unlisted {
  static constexpr std::string_view event_type = "order.shipped";
  static constexpr int event_version = 1;
  std::string order_id;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Unlisted, order_id)
};

const nlohmann::json good_order = {{"order_id", "42"}, {"customer", "alice"}, {"total", 10.5}, {"currency", "EUR"}};

}  // namespace

TEST_CASE("every schema of the catalog loads with a title, a description and examples that validate", "[catalog]") {
  Catalog catalog = Catalog::load(events_dir);
  REQUIRE_FALSE(catalog.types().empty());
  for (const auto& type : catalog.types()) {
    for (int version : catalog.versions(type)) {
      const Catalog::Entry* entry = catalog.find(type, version);
      REQUIRE(entry != nullptr);
      INFO(entry->file.string());
      CHECK_FALSE(entry->title().empty());
      CHECK_FALSE(entry->description().empty());
      REQUIRE_FALSE(entry->examples().empty());
      for (const auto& example : entry->examples()) CHECK_NOTHROW(catalog.check(type, version, example));
      // A named partition key is a field the examples carry.
      if (!entry->partition_key().empty())
        for (const auto& example : entry->examples())
          CHECK(example.contains(nlohmann::json::json_pointer(entry->partition_key())));
    }
  }
  CHECK(catalog.versions("order.created") == std::vector<int>{1, 2});
  CHECK(catalog.latest("order.created") == 2);
  CHECK_FALSE(catalog.latest("no.such").has_value());
  CHECK(catalog.find("order.created", 2)->partition_key() == "/order_id");
}

TEST_CASE("the catalog covers every event the orders example publishes", "[catalog]") {
  Catalog catalog = Catalog::load(events_dir);
  for (const char* type : {"order.created", "order.paid", "order.updated", "order.before.create", "order.after.create",
                           "order.failed.create"})
    CHECK(catalog.latest(type).has_value());
}

TEST_CASE("the example's typed event agrees with its schema, and a struct that drifted from it is caught",
          "[catalog][typed]") {
  Catalog catalog = Catalog::load(events_dir);
  CHECK_NOTHROW(check_typed(catalog, orders::OrderCreated{"42", "alice", 120.0, "EUR", {"book"}}));

  try {
    check_typed(catalog, DriftedOrderCreated{"42", "alice", 1.0, 978});
    FAIL("a struct that disagrees with its schema passed");
  } catch (const SchemaError& ex) {
    CHECK(ex.pointer() == "/currency");
    CHECK(ex.version() == 2);
  }

  CHECK_THROWS_AS(check_typed(catalog, Unlisted{"1"}), SchemaError);
}

TEST_CASE("publish refuses data that fails its schema, naming the type, version, JSON pointer and rule",
          "[catalog][memory]") {
  auto bus = bus_with(orders_catalog());
  std::atomic<int> handled{0};
  auto sub = bus->subscribe({.pattern = "order.#", .group = "g"}, [&](const Envelope&) { ++handled; });

  nlohmann::json bad = good_order;
  bad["total"] = -1;
  try {
    bus->publish(order_created(bad));
    FAIL("an order with a negative total was published");
  } catch (const SchemaError& ex) {
    CHECK(ex.code() == ErrorCode::schema);
    CHECK_FALSE(ex.retriable());
    CHECK(ex.type() == "order.created");
    CHECK(ex.version() == 2);
    CHECK(ex.pointer() == "/total");
    CHECK_FALSE(ex.rule().empty());
    CHECK_THAT(ex.what(), Catch::Contains("order.created v2") && Catch::Contains("/total"));
  }
  bad = good_order;
  bad["items"] = {"book", 7};
  CHECK_THROWS_MATCHES(bus->publish(order_created(bad)), SchemaError,
                       Catch::Predicate<SchemaError>([](const SchemaError& e) { return e.pointer() == "/items/1"; }));
  bad = good_order;
  bad.erase("currency");
  CHECK_THROWS_AS(bus->publish(order_created(bad)), SchemaError);
  // The same data is valid as version 1 (no currency yet), and the batch path checks too.
  Envelope v1 = order_created(bad);
  v1.dataversion = 1;
  CHECK_NOTHROW(bus->publish(v1));
  std::vector<Envelope> batch{order_created(good_order), order_created({{"order_id", 1}})};
  CHECK_THROWS_AS(bus->publish(std::move(batch)), SchemaError);

  bus->publish(order_created(good_order));
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  CHECK(handled == 2);  // the v1 and the last one; nothing of the refused batch
}

TEST_CASE("an event type or version the catalog does not know follows the unknown policy", "[catalog][memory]") {
  Envelope unknown_type = Envelope::make("invoice.sent", {{"anything", true}}, "tests");
  Envelope unknown_version = order_created(good_order);
  unknown_version.dataversion = 9;
  SECTION("allow (the default) and warn pass it on") {
    for (auto policy : {UnknownSchema::allow, UnknownSchema::warn}) {
      auto bus = bus_with(orders_catalog({.unknown = policy}));
      CHECK_NOTHROW(bus->publish(unknown_type));
      CHECK_NOTHROW(bus->publish(unknown_version));
    }
  }
  SECTION("refuse refuses it") {
    auto bus = bus_with(orders_catalog({.unknown = UnknownSchema::refuse}));
    CHECK_THROWS_WITH(bus->publish(unknown_type), Catch::Contains("no schema for this type"));
    CHECK_THROWS_WITH(bus->publish(unknown_version), Catch::Contains("no schema for this version"));
    CHECK_NOTHROW(bus->publish(order_created(good_order)));
  }
  CHECK(unknown_schema_from("warn") == UnknownSchema::warn);
  CHECK_THROWS_AS(unknown_schema_from("maybe"), ConfigError);
}

TEST_CASE("an event that fails its schema on receipt is dead-lettered at once with schema_error, never handled",
          "[catalog][memory][dlq]") {
  // A publisher that skips the check (at_publish off) stands for one that
  // has no catalog: the subscriber's check is what must hold.
  auto bus = bus_with(orders_catalog({.at_publish = false}));
  std::atomic<int> handled{0};
  auto sub = bus->subscribe({.pattern = "order.#", .group = "shop", .retry = RetryPolicy{}},
                            [&](const Envelope&) { ++handled; });
  nlohmann::json bad = good_order;
  bad["currency"] = "euro";
  Envelope poison = order_created(bad);
  bus->publish(poison);
  Envelope not_json = order_created(good_order);
  not_json.data = "{\"order_id\": ";  // what a careless producer may send
  bus->publish(not_json);
  bus->publish(order_created(good_order));
  REQUIRE(bus->flush(std::chrono::seconds(10)));

  CHECK(handled == 1);
  auto letters = bus->dead_letters("shop");
  REQUIRE(letters.size() == 2);
  for (const auto& d : letters) {
    CHECK(d.reason == "schema_error");
    CHECK(d.attempts == 0);  // no handler ran
    CHECK_THAT(d.last_error, Catch::StartsWith("schema: order.created v2:"));
  }
  CHECK(letters.front().event.id == poison.id);
  CHECK_THAT(letters.front().last_error, Catch::Contains("/currency"));
  auto totals = bus->metrics().snapshot().total("shop");
  CHECK(totals.dead_lettered == 2);
  CHECK(totals.retried == 0);
  CHECK(totals.failed_attempts == 0);
}

TEST_CASE("core's verdict on a schema failure is a dead letter at once, whatever the policy", "[catalog][delivery]") {
  DeliveryState state;
  ConsumerCounters counters;
  Attempt failed{false, "schema: order.created v2: /total: too small", false, {}, true};
  RetryPolicy policy;
  policy.max_attempts = 10;
  CHECK(decide(policy, state, failed, counters) == Verdict::dead(DeadLetterReason::schema_error));
  CHECK(state.attempts == 0);
  CHECK(state.last_error == failed.error);
  CHECK(wire_name(DeadLetterReason::schema_error) == "schema_error");
  CHECK(dead_letter_reason_from("schema_error") == DeadLetterReason::schema_error);
}

TEST_CASE("the catalog is configured by the config file's schemas key or HERALD_SCHEMAS", "[catalog][config]") {
  BusConfig c = BusConfig::from_json({{"url", "memory://"}, {"schemas", events_dir}});
  REQUIRE(c.decode.catalog);
  CHECK(c.decode.catalog->latest("order.paid") == 1);
  c = BusConfig::from_json({{"schemas", {{"path", events_dir}, {"unknown", "refuse"}}}, {"url", "memory://"}});
  REQUIRE(c.decode.catalog);  // "url" after "schemas" keeps it
  CHECK(c.decode.catalog->options().unknown == UnknownSchema::refuse);
  CHECK_THROWS_WITH(BusConfig::from_json({{"schemas", {{"path", events_dir}, {"strict", true}}}}),
                    Catch::Contains("unknown key 'strict'"));
  CHECK_THROWS_WITH(BusConfig::from_json({{"schemas", "/no/such/folder"}}), Catch::Contains("is not a folder"));

  ::setenv("HERALD_SCHEMAS", events_dir.c_str(), 1);
  ::setenv("HERALD_SCHEMAS_UNKNOWN", "warn", 1);
  BusConfig e = BusConfig::from_env();
  ::unsetenv("HERALD_SCHEMAS");
  ::unsetenv("HERALD_SCHEMAS_UNKNOWN");
  REQUIRE(e.decode.catalog);
  CHECK(e.decode.catalog->options().unknown == UnknownSchema::warn);
}

TEST_CASE("a catalog folder that breaks the layout is refused naming the file", "[catalog]") {
  auto dir = std::filesystem::temp_directory_path() / unique_name("catalog");
  std::filesystem::create_directories(dir / "order.created");
  std::ofstream(dir / "order.created" / "2.json") << R"({"type": "object"})";
  CHECK_THROWS_WITH(Catalog::load(dir), Catch::Contains("2.json") && Catch::Contains("v<N>.json"));
  std::filesystem::remove(dir / "order.created" / "2.json");
  std::ofstream(dir / "order.created" / "v2.json") << R"({"type": )";
  CHECK_THROWS_WITH(Catalog::load(dir), Catch::Contains("malformed JSON"));
  std::filesystem::remove_all(dir);
}
