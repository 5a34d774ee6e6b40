// librdkafka's own log lines reach herald's log hook (herald/log.hpp),
// tagged with the client, in either format and without the SASL password.

#include <catch2/catch.hpp>

#include <random>

#include <nlohmann/json.hpp>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "log_capture.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

namespace {

std::string random_password(std::mt19937& rng) {
  std::uniform_int_distribution<int> length(14, 24), printable(0x21, 0x7e);
  std::string p;
  for (int n = length(rng); static_cast<int>(p.size()) < n;) {
    char c = static_cast<char>(printable(rng));
    if (c != '?') p += c;  // a raw '?' would start the query
  }
  return p;
}

}  // namespace

TEST_CASE("librdkafka's log lines arrive through herald's log hook", "[kafka][log]") {
  LogCapture capture({LogFormat::json, LogLevel::info});
  const std::string client = unique_name("herald-log-client");
  // Nothing listens on port 1: librdkafka logs the refused connection.
  BusConfig c = BusConfig::from_url("kafka://127.0.0.1:1");
  c.options["create_topics"] = "false";
  c.options["kafka.client.id"] = client;
  c.options["kafka.producer.message.timeout.ms"] = "500";
  auto bus = make_bus(c);
  CHECK_THROWS_AS(bus->publish(Envelope::make("order.created", {{"n", 1}})), PublishError);
  REQUIRE(wait_until([&] { return !capture.matching("herald.kafka", client).empty(); }));
  auto line = capture.matching("herald.kafka", client).front();
  auto j = nlohmann::json::parse(line.json);
  CHECK(j.at("logger") == "herald.kafka");
  CHECK_THAT(j.at("msg").get<std::string>(), Catch::Contains(client));
}

TEST_CASE("librdkafka's lines carry no SASL password, in text or JSON", "[kafka][log][secrets][randomized]") {
  std::mt19937 rng(Catch::rngSeed());
  for (int n = 0; n < 2; ++n) {
    const std::string password = random_password(rng);
    LogCapture capture({n % 2 ? LogFormat::json : LogFormat::text, LogLevel::debug});
    const std::string client = unique_name("herald-log-secret");
    // debug=conf,security,broker: librdkafka describes its configuration and
    // every connection attempt, at debug level.
    BusConfig c = BusConfig::from_url("kafka://alice:" + percent_encode(password) + "@127.0.0.1:1");
    c.options["create_topics"] = "false";
    c.options["kafka.client.id"] = client;
    c.options["kafka.debug"] = "conf,security,broker";
    c.options["kafka.producer.message.timeout.ms"] = "500";
    {
      auto bus = make_bus(c);
      CHECK_THROWS_AS(bus->publish(Envelope::make("order.created", {{"n", 1}})), PublishError);
      REQUIRE(wait_until([&] { return capture.matching("herald.kafka", client).size() >= 5; }));
    }
    CHECK_FALSE(capture.matching("herald.kafka", "sasl").empty());  // it did speak of SASL
    for (const auto& line : capture.lines()) {
      const std::string msg = nlohmann::json::parse(line.json).at("msg").get<std::string>();
      INFO("password " << password << "\nline " << line.text);
      REQUIRE(line.message.find(password) == std::string::npos);
      REQUIRE(line.text.find(password) == std::string::npos);
      REQUIRE(msg.find(password) == std::string::npos);
      REQUIRE(msg.find(percent_encode(password)) == std::string::npos);
    }
  }
}
