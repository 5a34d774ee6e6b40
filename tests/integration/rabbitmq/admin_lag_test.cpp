// The admin endpoint's consumer gauges on RabbitMQ: the depth of the group's
// queue, its delay queues and its dead-letter queue, through /metrics; a dead
// letter replayed through the token-guarded route.

#include <catch2/catch.hpp>

#include <atomic>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "herald/admin.hpp"
#include "herald/errors.hpp"
#include "raw_broker.hpp"
#include "http_request.hpp"

using namespace herald;
using namespace herald::test;
namespace http = boost::beast::http;

namespace {

std::pair<int, std::string> call(std::uint16_t port, http::verb verb, const std::string& target,
                                 const std::string& authorization = {}) {
  auto response = http_request(port, verb, target, authorization, std::chrono::seconds(60));
  return {static_cast<int>(response.result_int()), response.body()};
}

}  // namespace

TEST_CASE("the admin endpoint reports a RabbitMQ group's queue depth and dead letters, and replays them with the token",
          "[rabbitmq][admin][metrics]") {
  const std::string ns = unique_name("admin");
  auto bus = make_bus(isolated_config(ns));
  const std::string group = ns + "-stock";
  const std::string token = unique_name("token");
  auto endpoint = admin::start(*bus, {.listen = "127.0.0.1:0", .token = token, .groups = {{group, "stock.*"}}});
  auto gauge = [&](const std::string& name) {
    return name + "{transport=\"rabbitmq\",group=\"" + group + "\"} ";
  };

  // The first subscription creates the group's queue; then the consumer is gone.
  bus->subscribe({.pattern = "stock.*", .group = group}, [](const Envelope&) {}).cancel();
  for (int i = 0; i < 4; ++i) bus->publish(Envelope::make("stock.moved", {{"n", i}}));
  REQUIRE(wait_until(
      [&] {
        return call(endpoint->port(), http::verb::get, "/metrics").second.find(gauge("herald_consumer_lag_messages") +
                                                                              "4\n") != std::string::npos;
      },
      std::chrono::seconds(20)));

  // Consumed, one failing for good: the lag is 0 and the dead-letter queue holds it.
  std::atomic<bool> fail{true};
  std::atomic<int> handled{0};
  auto sub = bus->subscribe({.pattern = "stock.*", .group = group, .retry = RetryPolicy::none()}, [&](const Envelope& e) {
    if (e.payload().value("fail", false) && fail) throw std::runtime_error("shelf missing");
    ++handled;
  });
  bus->publish(Envelope::make("stock.moved", {{"fail", true}}));
  REQUIRE(wait_until(
      [&] {
        auto text = call(endpoint->port(), http::verb::get, "/metrics").second;
        return text.find(gauge("herald_consumer_lag_messages") + "0\n") != std::string::npos &&
               text.find(gauge("herald_consumer_dead_letter_messages") + "1\n") != std::string::npos;
      },
      std::chrono::seconds(30)));
  auto text = call(endpoint->port(), http::verb::get, "/metrics").second;
  CHECK_THAT(text, Catch::Contains("herald_dead_letters_total{transport=\"rabbitmq\",type=\"stock.moved\",group=\"" +
                                   group + "\",reason=\"max_attempts\"} 1\n"));
  CHECK(call(endpoint->port(), http::verb::get, "/readyz").first == 200);

  auto listed = call(endpoint->port(), http::verb::get, "/v1/dead-letters/" + group);
  CHECK(listed.first == 200);
  CHECK_THAT(listed.second, Catch::Contains("shelf missing"));
  fail = false;
  CHECK(call(endpoint->port(), http::verb::post, "/v1/dead-letters/" + group + "/replay").first == 401);
  auto replayed = call(endpoint->port(), http::verb::post, "/v1/dead-letters/" + group + "/replay", "Bearer " + token);
  CHECK(replayed.first == 200);
  CHECK_THAT(replayed.second, Catch::Contains("\"replayed\":1"));
  REQUIRE(wait_until([&] { return handled.load() == 5; }, std::chrono::seconds(30)));
  CHECK_THAT(replayed.second + listed.second + text, !Catch::Contains(token));
}
