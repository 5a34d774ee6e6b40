// Route tables: reading and refusing them, and a routed bus over two
// in-process transports (memory://old and memory://new are two buses).

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/routed_bus.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// Sets environment variables for one test and removes them after.
struct ScopedEnv {
  std::vector<std::string> names;
  ScopedEnv& set(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    names.push_back(name);
    return *this;
  }
  ~ScopedEnv() {
    for (const auto& n : names) ::unsetenv(n.c_str());
  }
};

BusConfig two_memories() {
  return BusConfig::from_json(nlohmann::json::parse(R"({
    "source": "/orders",
    "routes": [
      {"match": "order.#", "publish": ["memory://old"]},
      {"match": "payment.failed", "publish": "memory://old", "subscribe": ["memory://old", "memory://new"]},
      {"match": "#", "publish": ["memory://new"]}
    ]})"));
}

std::uint64_t published_on(RoutedBus& bus, const std::string& url) {
  return bus.target(url).metrics().snapshot().total_published();
}

}  // namespace

TEST_CASE("a route table is read from JSON in order, subscribe defaulting to the publish targets", "[config][routes]") {
  BusConfig c = two_memories();
  REQUIRE(c.routes.size() == 3);
  CHECK(c.source == "/orders");
  CHECK(c.routes[0].match == "order.#");
  CHECK(c.routes[0].read_from() == std::vector<std::string>{"memory://old"});
  CHECK(c.routes[1].publish == std::vector<std::string>{"memory://old"});
  CHECK(c.routes[1].read_from() == std::vector<std::string>{"memory://old", "memory://new"});
  CHECK(c.outbox.empty());
}

TEST_CASE("bad route tables are refused with an error that names the route", "[config][routes]") {
  auto refused = [](const char* text) {
    try {
      BusConfig::from_json(nlohmann::json::parse(text));
    } catch (const ConfigError& ex) {
      return std::string(ex.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refused(R"({"routes": [{"match": "#", "publish": ["memory://"], "publsh": []}]})"),
             Catch::Contains("route 1 ('#')") && Catch::Contains("unknown key 'publsh'"));
  CHECK_THAT(refused(R"({"routes": [{"match": "a.#", "publish": ["memory://"]}, {"match": "b.#", "publish": ["not a url"]}]})"),
             Catch::Contains("route 2 ('b.#')") && Catch::Contains("scheme://"));
  CHECK_THAT(refused(R"({"routes": [{"match": "order.cre*", "publish": ["memory://"]}]})"),
             Catch::Contains("route 1 ('order.cre*')"));
  CHECK_THAT(refused(R"({"routes": [{"match": "order.*", "publish": []}]})"), Catch::Contains("names no target"));
  CHECK_THAT(refused(R"({"routes": [{"publish": ["memory://"]}]})"), Catch::Contains("'match' is missing"));
  CHECK_THAT(refused(R"({"routes": [{"match": "#", "publish": ["memory://a", "memory://a"]}]})"),
             Catch::Contains("names 'memory://a' twice"));
  CHECK_THAT(refused(R"({"url": "memory://", "routes": [{"match": "#", "publish": ["memory://"]}]})"),
             Catch::Contains("'url' and 'routes'"));
  CHECK_THAT(refused(R"({"options": {"workers": 2}, "routes": [{"match": "#", "publish": ["memory://"]}]})"),
             Catch::Contains("'options'"));
  CHECK_THAT(refused(R"({"routes": []})"), Catch::Contains("'routes' is empty"));
  CHECK_THAT(refused(R"({"outbox": {"store": "sqlite:///x.db", "relay": "no"}})"), Catch::Contains("true or false"));
  CHECK_THAT(refused(R"({"outbox": {"stor": "sqlite:///x.db"}})"), Catch::Contains("unknown key 'stor'"));
  // A password in a bad target never reaches the message.
  CHECK_THAT(refused(R"({"routes": [{"match": "#", "publish": ["amqp://u:s3cret@h:99999/"]}]})"),
             !Catch::Contains("s3cret") && Catch::Contains("route 1"));
}

TEST_CASE("a route that earlier routes leave no type to is refused as shadowed", "[config][routes]") {
  auto refused = [](std::vector<Route> routes) {
    try {
      validate_routes(routes);
    } catch (const ConfigError& ex) {
      return std::string(ex.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(refused({{.match = "order.*", .publish = {"memory://a"}}, {.match = "order.created", .publish = {"memory://b"}}}),
             Catch::Contains("route 2 ('order.created') can never match") && Catch::Contains("route 1 ('order.*')"));
  CHECK_THAT(refused({{.match = "#", .publish = {"memory://a"}}, {.match = "payment.*", .publish = {"memory://b"}}}),
             Catch::Contains("route 2 ('payment.*') can never match"));
  // Covered only by two earlier routes together.
  CHECK_THAT(refused({{.match = "a", .publish = {"memory://a"}},
                      {.match = "a.*.#", .publish = {"memory://a"}},
                      {.match = "a.#", .publish = {"memory://b"}}}),
             Catch::Contains("route 3 ('a.#')") && Catch::Contains("route 1 ('a')") &&
                 Catch::Contains("route 2 ('a.*.#')"));
  // Overlapping but each with types of its own: fine.
  CHECK(refused({{.match = "order.created", .publish = {"memory://a"}},
                 {.match = "order.*", .publish = {"memory://b"}},
                 {.match = "#.failed", .publish = {"memory://a"}},
                 {.match = "#", .publish = {"memory://b"}}}) == "accepted");
}

TEST_CASE("routes and the outbox are read from the environment", "[config][routes][env]") {
  SECTION("numbered routes with space-separated targets") {
    ScopedEnv env;
    env.set("HERALD_ROUTE_1_MATCH", "order.#")
        .set("HERALD_ROUTE_1_PUBLISH", "memory://old  memory://new")
        .set("HERALD_ROUTE_1_SUBSCRIBE", "memory://old")
        .set("HERALD_ROUTE_2_MATCH", "#")
        .set("HERALD_ROUTE_2_PUBLISH", "kafka://h1:9092,h2:9092")
        .set("HERALD_OUTBOX_STORE", "sqlite:///tmp/x.db")
        .set("HERALD_OUTBOX_RELAY", "false");
    BusConfig c = BusConfig::from_env();
    REQUIRE(c.routes.size() == 2);
    CHECK(c.routes[0].publish == std::vector<std::string>{"memory://old", "memory://new"});
    CHECK(c.routes[0].read_from() == std::vector<std::string>{"memory://old"});
    CHECK(c.routes[1].publish == std::vector<std::string>{"kafka://h1:9092,h2:9092"});
    CHECK(c.outbox == "sqlite:///tmp/x.db");
    CHECK_FALSE(c.outbox_relay);
  }
  SECTION("a misspelt variable, a gap in the numbers and a route beside HERALD_URL are refused by name") {
    {
      ScopedEnv env;
      env.set("HERALD_ROUTE_1_MATCH", "#").set("HERALD_ROUTE_1_PUBLSH", "memory://");
      CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_ROUTE_1_PUBLSH"));
    }
    {
      ScopedEnv env;
      env.set("HERALD_ROUTE_1_MATCH", "a.#").set("HERALD_ROUTE_1_PUBLISH", "memory://");
      env.set("HERALD_ROUTE_3_MATCH", "#").set("HERALD_ROUTE_3_PUBLISH", "memory://");
      CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_ROUTE_3") && Catch::Contains("HERALD_ROUTE_2"));
    }
    {
      ScopedEnv env;
      env.set("HERALD_ROUTE_1_MATCH", "#").set("HERALD_ROUTE_1_PUBLISH", "memory://").set("HERALD_URL", "memory://");
      CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_URL and HERALD_ROUTE_*"));
    }
    {
      ScopedEnv env;
      env.set("HERALD_OUTBOX_RELAY", "false");
      CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_OUTBOX_STORE"));
    }
  }
  SECTION("HERALD_CONFIG names a file that is the whole configuration") {
    const auto path = std::filesystem::temp_directory_path() / (unique_name("herald") + ".json");
    std::ofstream(path) << R"({"routes": [{"match": "#", "publish": ["memory://"]}], "outbox": "sqlite:///tmp/y.db"})";
    ScopedEnv env;
    env.set("HERALD_CONFIG", path.string());
    BusConfig c = BusConfig::from_env();
    CHECK(c.routes.size() == 1);
    CHECK(c.outbox == "sqlite:///tmp/y.db");
    CHECK(c.outbox_relay);
    env.set("HERALD_URL", "memory://");
    env.set("HERALD_OPT_WORKERS", "2");
    CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_URL") && Catch::Contains("HERALD_OPT_WORKERS"));
    std::filesystem::remove(path);
  }
}

TEST_CASE("a routed bus publishes each type to its route's targets and subscribes where routes read it",
          "[routes][memory]") {
  auto bus = make_bus(two_memories());
  auto& routed = dynamic_cast<RoutedBus&>(*bus);
  CHECK(routed.features().name == "routed(memory+memory)");

  // Only the targets that can carry what the pattern matches.
  CHECK(routed.subscribe_targets("order.*") == std::vector<std::string>{"memory://old"});
  CHECK(routed.subscribe_targets("payment.*") == std::vector<std::string>{"memory://old", "memory://new"});
  CHECK(routed.subscribe_targets("invoice.*") == std::vector<std::string>{"memory://new"});
  CHECK(routed.subscribe_targets("#") == std::vector<std::string>{"memory://old", "memory://new"});
  CHECK(routed.route_for("order.created") == &routed.routes()[0]);
  CHECK(routed.route_for("payment.failed") == &routed.routes()[1]);

  Recorder<std::string> all, orders;
  auto s1 = bus->subscribe({.pattern = "#", .group = "audit"}, [&](const Envelope& e) { all.add(e.type); });
  auto s2 = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [&](const Envelope& e) { orders.add(e.type); });
  bus->publish(Envelope::make("order.created", {{"n", 1}}));
  bus->publish(Envelope::make("payment.failed", {{"n", 2}}));
  bus->publish(std::vector<Envelope>{Envelope::make("invoice.sent", {{"n", 3}}), Envelope::make("order.paid", {{"n", 4}})});
  REQUIRE(bus->flush(std::chrono::seconds(10)));
  REQUIRE(all.wait_for(4, std::chrono::seconds(10)));
  REQUIRE(orders.wait_for(2, std::chrono::seconds(10)));
  CHECK(published_on(routed, "memory://old") == 3);
  CHECK(published_on(routed, "memory://new") == 1);
  CHECK(all.size() == 4);
  CHECK(orders.size() == 2);

  SECTION("an event of a type routed elsewhere is not handed to the subscription on this target") {
    // Another service put an order event on the new target; this table reads orders from the old one.
    routed.target("memory://new").publish(Envelope::make("order.created", {{"stray", true}}));
    routed.target("memory://new").publish(Envelope::make("invoice.sent", {{"marker", true}}));
    REQUIRE(all.wait_for(5, std::chrono::seconds(10)));
    REQUIRE(bus->flush(std::chrono::seconds(10)));
    CHECK(all.items().back() == "invoice.sent");
    CHECK(all.size() == 5);
  }
  SECTION("a type no route matches and a pattern no route reads are refused") {
    auto narrow = make_bus(BusConfig::from_json(nlohmann::json::parse(
        R"({"routes": [{"match": "order.#", "publish": ["memory://a"]}]})")));
    CHECK_THROWS_WITH(narrow->publish(Envelope::make("invoice.sent", {})), Catch::Contains("no route matches type 'invoice.sent'"));
    CHECK_THROWS_AS(narrow->publish(std::vector<Envelope>{Envelope::make("order.created", {}), Envelope::make("x.y", {})}),
                    ConfigError);
    CHECK(narrow->metrics().snapshot().total_published() == 0);  // the batch was refused whole
    CHECK_THROWS_WITH(narrow->subscribe({.pattern = "invoice.*", .group = "g"}, [](const Envelope&) {}),
                      Catch::Contains("no route reads"));
  }
  SECTION("close closes every target") {
    bus->close();
    CHECK_THROWS_AS(bus->publish(Envelope::make("order.created", {})), ClosedError);
    CHECK_THROWS_AS(routed.target("memory://new").publish(Envelope::make("x.y", {})), ClosedError);
  }
}

TEST_CASE("a routed bus lists, replays and purges dead letters on every target it reads from", "[routes][memory][dlq]") {
  auto bus = make_bus(two_memories());
  std::atomic<bool> fail{true};
  Recorder<std::string> handled;
  auto sub = bus->subscribe({.pattern = "#", .group = "ledger", .retry = {.max_attempts = 1}}, [&](const Envelope& e) {
    if (fail) throw PermanentError("not today");
    handled.add(e.type);
  });
  Envelope a = Envelope::make("order.created", {{"n", 1}});
  Envelope b = Envelope::make("invoice.sent", {{"n", 2}});
  bus->publish(a);
  bus->publish(b);
  std::vector<DeadLetter> letters;
  REQUIRE(wait_until([&] { return (letters = bus->dead_letters("ledger")).size() == 2; }, std::chrono::seconds(10)));
  CHECK(bus->dead_letters("ledger", 1).size() == 1);
  // One view of the counts: runs counted by the routed bus, dead letters by the targets, none twice.
  auto totals = bus->metrics().snapshot().total("ledger");
  CHECK(totals.failed_attempts == 2);
  CHECK(totals.dead_lettered == 2);
  CHECK(bus->metrics().snapshot().total_published() == 2);
  fail = false;
  CHECK(bus->replay_dead_letters("ledger", b.id) == 1);
  REQUIRE(handled.wait_for(1, std::chrono::seconds(10)));
  CHECK(handled.items() == std::vector<std::string>{"invoice.sent"});
  CHECK(bus->purge_dead_letters("ledger") == 1);
  CHECK(bus->dead_letters("ledger").empty());
}

TEST_CASE("the outbox is read from JSON beside a URL, in either form", "[config][outbox]") {
  BusConfig a = BusConfig::from_json({{"outbox", "sqlite:///tmp/a.db"}, {"url", "memory://?workers=2"}});
  CHECK(a.outbox == "sqlite:///tmp/a.db");
  CHECK(a.outbox_relay);
  CHECK(a.options.at("workers") == "2");
  BusConfig b = BusConfig::from_json({{"url", "memory://"}, {"outbox", {{"store", "sqlite:///tmp/b.db"}, {"relay", false}}}});
  CHECK(b.outbox == "sqlite:///tmp/b.db");
  CHECK_FALSE(b.outbox_relay);
}
