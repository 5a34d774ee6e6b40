// The dashboard's two routes over HTTP: GET / serves the page under a
// Content-Security-Policy that allows its inline script by hash alone, and
// GET /v1/summary reports per group the same figures /metrics exposes.
// (dashboard_test.py drives the page itself in a browser.)

#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "wait.hpp"
#include "http_request.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

http::response<http::string_body> get(std::uint16_t port, const std::string& target) {
  return http_request(port, http::verb::get, target, {}, 10s);
}

// Sample values of one family summed per `group` label, from Prometheus text;
// `filter` must appear in the series' labels.
std::map<std::string, double> per_group(const std::string& text, const std::string& family,
                                        const std::string& filter = {}) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  const std::regex group_label("group=\"([^\"]*)\"");
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(family + "{", 0) != 0 || line.find(filter) == std::string::npos) continue;
    std::smatch m;
    if (!std::regex_search(line, m, group_label)) continue;
    out[m[1]] += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return out;
}

struct Service {
  std::shared_ptr<EventStore> store = open_event_store("sqlite::memory:");
  std::unique_ptr<EventBus> bus = make_bus("memory://");
  Subscription mailer = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [](const Envelope&) {});
  Subscription flaky = bus->subscribe(
      {.pattern = "order.*", .group = "flaky", .retry = {.max_attempts = 2, .initial_delay = 1ms, .jitter = 0}},
      [](const Envelope& e) {
        if (e.type == "order.cancelled") throw ConfigError("cannot cancel");
        throw std::runtime_error("flaky");
      });

  Service() {
    bus->publish(Envelope::make("order.created", {{"order_id", "1"}}, "orders"));
    bus->publish(Envelope::make("order.cancelled", {{"order_id", "1"}}, "orders"));
    store->append(Envelope::make("order.created", {{"order_id", "2"}}, "orders"));
    REQUIRE(bus->flush(10s));
    REQUIRE(wait_until([&] { return bus->backlog("flaky").dead == 2; }, 10s));
  }
};

}  // namespace

TEST_CASE("GET / serves the dashboard with its inline script allowed by hash only", "[admin][dashboard]") {
  Service s;
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = ""});
  auto page = get(endpoint->port(), "/");
  REQUIRE(page.result_int() == 200);
  CHECK(std::string(page[http::field::content_type]) == "text/html; charset=utf-8");
  const std::string csp(page["Content-Security-Policy"]);
  CHECK_THAT(csp, Catch::Contains("default-src 'none'"));
  CHECK_THAT(csp, Catch::Contains("connect-src 'self'"));
  CHECK(std::regex_search(csp, std::regex("script-src 'sha256-[A-Za-z0-9+/]{43}='")));
  CHECK_THAT(csp, !Catch::Contains("unsafe-inline"));
  CHECK(std::string(page["X-Content-Type-Options"]) == "nosniff");
  const std::string& html = page.body();
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  // Self-contained: nothing loaded from anywhere, one inline script.
  CHECK_THAT(html, !Catch::Contains("src="));
  std::string addresses = std::regex_replace(html, std::regex("http://www[.]w3[.]org/2000/svg"), "");
  CHECK_THAT(addresses, !Catch::Contains("http://") && !Catch::Contains("https://"));
  CHECK(html.find("<script>") == html.rfind("<script>"));
  CHECK_THAT(html, !Catch::Contains("innerHTML"));
  // A JSON route keeps its own content type and no page policy.
  auto json = get(endpoint->port(), "/healthz");
  CHECK(std::string(json["Content-Security-Policy"]).empty());
}

TEST_CASE("/v1/summary reports per group the figures /metrics exposes", "[admin][dashboard]") {
  Service s;
  SECTION("without a token replay is reported off") {
    auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = ""});
    auto summary = nlohmann::json::parse(get(endpoint->port(), "/v1/summary").body());
    CHECK(summary["replay"] == false);
  }
  SECTION("with a token replay is reported on, and the token never appears") {
    auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = "s3cret-dash-token"});
    const std::string metrics = get(endpoint->port(), "/metrics").body();
    const std::string body = get(endpoint->port(), "/v1/summary").body();
    CHECK_THAT(body, !Catch::Contains("s3cret-dash-token"));
    auto summary = nlohmann::json::parse(body);
    CHECK(summary["replay"] == true);
    CHECK(summary["transport"] == "memory");
    CHECK(summary["published"] == 2);

    std::map<std::string, nlohmann::json> groups;
    for (const auto& g : summary["groups"]) groups[g["group"].get<std::string>()] = g;
    REQUIRE(groups.count("flaky") == 1);
    REQUIRE(groups.count("mailer") == 1);
    auto consumed = per_group(metrics, "herald_messages_consumed_total", "outcome=\"success\"");
    auto failed = per_group(metrics, "herald_messages_consumed_total", "outcome=\"failure\"");
    auto retries = per_group(metrics, "herald_retries_total");
    auto dead = per_group(metrics, "herald_dead_letters_total");
    auto lag = per_group(metrics, "herald_consumer_lag_messages");
    auto held = per_group(metrics, "herald_consumer_dead_letter_messages");
    for (const std::string name : {"flaky", "mailer"}) {
      INFO("group " << name << "\n" << metrics);
      const auto& g = groups[name];
      CHECK(g["consumed"].get<double>() == consumed[name]);
      CHECK(g["failed"].get<double>() == failed[name]);
      CHECK(g["retries"].get<double>() == retries[name]);
      CHECK(g["deadLetters"].get<double>() == dead[name]);
      CHECK(g["lag"].get<double>() == lag[name]);
      CHECK(g["deadHeld"].get<double>() == held[name]);
      CHECK(g["backlogUp"] == true);
    }
    CHECK(groups["flaky"]["deadLetters"] == 2);
    CHECK(groups["flaky"]["deadByReason"] == nlohmann::json{{"max_attempts", 1}, {"non_retriable", 1}});
    CHECK(groups["mailer"]["consumed"] == 2);
    CHECK(summary["outbox"]["pending"] == 1);
    CHECK(summary["outbox"]["dead"] == 0);
    CHECK(summary["outbox"]["oldestPendingAgeSeconds"].get<double>() >= 0);
  }
}
