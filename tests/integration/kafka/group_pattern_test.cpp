// The members of one Kafka group share its partitions, so they must share
// one pattern: otherwise each skips the events the other's pattern wants.

#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a second pattern for one group is refused in the same process", "[kafka][subscribe]") {
  KafkaFixture f;
  const std::string group = f.group("mailer");
  auto first = f.bus->subscribe({.pattern = "order.*", .group = group}, [](const Envelope&) {});

  auto refused = [&](EventBus& bus, const std::string& pattern) {
    try {
      auto sub = bus.subscribe({.pattern = pattern, .group = group}, [](const Envelope&) {});
      return std::string("accepted");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
  };
  SECTION("on the same bus") {
    std::string error = refused(*f.bus, "order.created");
    CHECK_THAT(error, Catch::Contains(group));
    CHECK_THAT(error, Catch::Contains("'order.*'"));
    CHECK_THAT(error, Catch::Contains("'order.created'"));
  }
  SECTION("on another bus of the same cluster") {
    auto other = make_bus(kafka_config(f.ns));
    std::string error = refused(*other, "order.#");
    CHECK_THAT(error, Catch::Contains(group));
    CHECK_THAT(error, Catch::Contains("'order.*'"));
    CHECK_THAT(error, Catch::Contains("'order.#'"));
  }
  SECTION("the same pattern adds a member, and once the first is gone another pattern may follow") {
    auto second = f.bus->subscribe({.pattern = "order.*", .group = group}, [](const Envelope&) {});
    first.cancel();
    CHECK(refused(*f.bus, "order.created") != "accepted");  // the second still reads order.*
    second.cancel();
    Recorder<std::string> got;
    auto third = f.bus->subscribe({.pattern = "order.created", .group = group}, [&](const Envelope& e) { got.add(e.id); });
    Envelope e = Envelope::make("order.created", {{"n", 1}});
    f.bus->publish(e);
    REQUIRE(got.wait_for(1, deadline));
  }
}
