#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include "herald/config.hpp"
#include "herald/errors.hpp"

using namespace herald;

TEST_CASE("a URL picks the transport and carries its options", "[config]") {
  BusConfig c = BusConfig::from_url("memory://?workers=2&dispatch=inline");
  CHECK(c.url == "memory://");
  CHECK(c.options.at("workers") == "2");
  auto bus = make_bus(c);
  CHECK(bus->features().name == "memory");
}

TEST_CASE("unknown schemes, options and bad values are refused by name", "[config]") {
  CHECK_THROWS_WITH(make_bus("nats://localhost"), Catch::Contains("unknown transport 'nats://'") && Catch::Contains("memory://"));
  CHECK_THROWS_WITH(make_bus("memory://?wrokers=2"), Catch::Contains("unknown option 'wrokers'"));
  CHECK_THROWS_WITH(make_bus("memory://?workers=lots"), Catch::Contains("'workers'") && Catch::Contains("integer"));
  CHECK_THROWS_WITH(make_bus("memory://?workers=0"), Catch::Contains("within [1"));
  CHECK_THROWS_WITH(make_bus("memory://?dispatch=sideways"), Catch::Contains("one of: async, inline"));
  CHECK_THROWS_WITH(make_bus("memory://?publish_timeout=soon"), Catch::Contains("duration"));
  CHECK_THROWS_AS(make_bus("no-scheme"), ConfigError);
}

TEST_CASE("passwords never appear in URLs shown to people", "[config][secrets]") {
  CHECK(redact_url("amqp://guest:s3cret@host:5672/vh") == "amqp://guest:***@host:5672/vh");
  CHECK(redact_url("amqp://host:5672/") == "amqp://host:5672/");
  CHECK(redact_url("postgresql://u:p%40ss@db/x?sslmode=require") == "postgresql://u:***@db/x?sslmode=require");
  try {
    make_bus("nats://user:hunter2@localhost");
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("hunter2") == std::string::npos);
  }
}

TEST_CASE("URLs are parsed into their parts", "[config]") {
  Url u = Url::parse("amqps://user:p%40ss@broker.local:5671/my%2Fvhost?heartbeat=30");
  CHECK(u.scheme == "amqps");
  CHECK(u.user == "user");
  CHECK(u.password == "p@ss");
  CHECK(u.host == "broker.local");
  CHECK(u.port == 5671);
  CHECK(u.path == "my/vhost");
  CHECK(u.query.at("heartbeat") == "30");
  Url k = Url::parse("kafka://h1:9092,h2:9092");
  CHECK(k.host == "h1:9092,h2:9092");
  CHECK_THROWS_AS(Url::parse("amqp://host:99999/"), ConfigError);
}

TEST_CASE("configuration comes from a JSON file", "[config]") {
  auto path = std::filesystem::temp_directory_path() / "herald-config-test.json";
  {
    std::ofstream out(path);
    out << R"({"url": "memory://", "source": "orders", "max_data_bytes": 2048, "options": {"workers": 3}})";
  }
  BusConfig c = BusConfig::from_file(path);
  CHECK(c.source == "orders");
  CHECK(c.decode.max_data_bytes == 2048);
  CHECK(c.options.at("workers") == "3");
  CHECK_THROWS_WITH(BusConfig::from_json({{"url", "memory://"}, {"colour", "blue"}}), Catch::Contains("unknown key 'colour'"));
  std::filesystem::remove(path);
}

TEST_CASE("configuration comes from the environment", "[config]") {
  ::setenv("HERALD_URL", "memory://?workers=2", 1);
  ::setenv("HERALD_SOURCE", "billing", 1);
  ::setenv("HERALD_OPT_QUEUE_LIMIT", "500", 1);
  BusConfig c = BusConfig::from_env();
  CHECK(c.url == "memory://");
  CHECK(c.source == "billing");
  CHECK(c.options.at("workers") == "2");
  CHECK(c.options.at("queue_limit") == "500");
  ::setenv("HERALD_MAX_DATA_BYTES", "-5", 1);
  CHECK_THROWS_WITH(BusConfig::from_env(), Catch::Contains("HERALD_MAX_DATA_BYTES"));
  for (const char* v : {"HERALD_URL", "HERALD_SOURCE", "HERALD_OPT_QUEUE_LIMIT", "HERALD_MAX_DATA_BYTES"}) ::unsetenv(v);
}
