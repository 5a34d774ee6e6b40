// The admin endpoint's consumer lag on Kafka: the group's high watermark
// minus its committed offsets, read through /metrics and /readyz.

#include <catch2/catch.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "herald/admin.hpp"
#include "kafka_fixture.hpp"
#include "http_request.hpp"

using namespace herald;
using namespace herald::test;
namespace http = boost::beast::http;

namespace {

std::pair<int, std::string> get(std::uint16_t port, const std::string& target) {
  auto response = http_request(port, http::verb::get, target, {}, std::chrono::seconds(60));
  return {static_cast<int>(response.result_int()), response.body()};
}

}  // namespace

TEST_CASE("the admin endpoint reports a Kafka group's lag while no consumer runs, and 0 once it caught up",
          "[kafka][admin][metrics]") {
  KafkaFixture f;
  const std::string group = f.group("stock");
  auto endpoint = admin::start(*f.bus, {.listen = "127.0.0.1:0", .token = "", .groups = {{group, "stock.*"}}});
  const std::string series = "herald_consumer_lag_messages{transport=\"kafka\",group=\"" + group + "\"} ";

  // Before any subscription the group does not exist there: not ready.
  CHECK(get(endpoint->port(), "/readyz").first == 503);

  // The first subscription places the group at the end; then no consumer runs.
  f.bus->subscribe({.pattern = "stock.*", .group = group}, [](const Envelope&) {}).cancel();
  std::vector<Envelope> events;
  for (int i = 0; i < 5; ++i) events.push_back(Envelope::make("stock.moved", {{"n", i}}));
  f.bus->publish(events);
  auto metrics = get(endpoint->port(), "/metrics");
  REQUIRE(metrics.first == 200);
  CHECK_THAT(metrics.second, Catch::Contains(series + "5\n"));
  CHECK_THAT(metrics.second, Catch::Contains("herald_messages_published_total{transport=\"kafka\",type=\"stock.moved\"} 5\n"));

  Recorder<std::string> handled;
  auto sub = f.bus->subscribe({.pattern = "stock.*", .group = group}, [&](const Envelope& e) { handled.add(e.id); });
  REQUIRE(handled.wait_for(5, deadline));
  REQUIRE(wait_until([&] { return get(endpoint->port(), "/metrics").second.find(series + "0\n") != std::string::npos; },
                     std::chrono::seconds(60)));
  CHECK(get(endpoint->port(), "/readyz").first == 200);
}
