// The HTTP admin (herald serve) on an ephemeral port, over both stores.

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "admin_server.hpp"
#include "herald/errors.hpp"
#include "scratch_store.hpp"
#include "http_request.hpp"

using namespace herald;
using namespace herald::test;
namespace http = boost::beast::http;

namespace {

struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

Response get(std::uint16_t port, const std::string& target) {
  auto response = http_request(port, http::verb::get, target);
  return {static_cast<int>(response.result_int()), std::string(response[http::field::content_type]), response.body()};
}

Envelope order_event(const std::string& order_id, int n) {
  Envelope e = Envelope::make("order.updated", {{"order_id", order_id}, {"n", n}}, "orders");
  e.aggregatetype = "order";
  e.aggregateid = order_id;
  return e;
}

}  // namespace

TEST_CASE("the HTTP admin serves an aggregate's timeline page by page", "[admin][timeline]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  std::vector<Envelope> events;
  for (int n = 0; n < 7; ++n) {
    events.push_back(order_event("42", n));
    events.push_back(order_event("7", n));
  }
  store->append(events);
  herald::admin::AdminServer admin(store, nullptr, {.port = 0});
  REQUIRE(admin.port() != 0);

  std::vector<int> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto r = get(admin.port(), "/v1/events?aggregateType=order&aggregateId=42&limit=3" +
                                   (cursor.empty() ? std::string() : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    CHECK(r.content_type == "application/json");
    auto page = r.json();
    for (const auto& item : page["events"]) {
      CHECK(item["event"]["aggregateid"] == "42");
      seen.push_back(item["event"]["data"]["n"].get<int>());
    }
    cursor = page["nextCursor"].is_null() ? std::string() : page["nextCursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty());
  CHECK(pages == 3);
  CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5, 6});

  auto all = get(admin.port(), "/v1/events?limit=100").json();
  CHECK(all["events"].size() == 14);
  CHECK(all["nextCursor"].is_null());
}

TEST_CASE("the HTTP admin shows one event and answers 404 for an unknown id", "[admin]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  Envelope e = order_event("42", 1);
  store->append(e);
  herald::admin::AdminServer admin(store, nullptr, {.port = 0});

  auto r = get(admin.port(), "/v1/events/" + e.id);
  REQUIRE(r.status == 200);
  auto j = r.json();
  CHECK(j["event"]["id"] == e.id);
  CHECK(j["event"]["type"] == "order.updated");
  CHECK(j["delivered_at"].is_null());
  CHECK(j["delivery_attempts"] == 0);

  auto missing = get(admin.port(), "/v1/events/no-such-id");
  CHECK(missing.status == 404);
  CHECK_THAT(missing.json()["error"].get<std::string>(), Catch::Contains("no-such-id"));
  CHECK(get(admin.port(), "/v1/nothing").status == 404);
}

TEST_CASE("the HTTP admin refuses bad parameters with 400 and a JSON error", "[admin]") {
  ScratchStore scratch("sqlite");
  herald::admin::AdminServer admin(scratch.open(), nullptr, {.port = 0});
  for (const char* target : {"/v1/events?limit=0", "/v1/events?limit=abc", "/v1/events?limit=100000",
                             "/v1/events?aggregateType=order", "/v1/events?cursor=zzz",
                             "/v1/events?aggregateType=order&aggregateId=1&cursor=p-1", "/v1/events?colour=blue"}) {
    INFO(target);
    auto r = get(admin.port(), target);
    CHECK(r.status == 400);
    CHECK(r.json().contains("error"));
  }
}

TEST_CASE("the HTTP admin reports health and Prometheus metrics with outbox gauges", "[admin][metrics]") {
  auto kind = GENERATE(from_range(store_kinds()));
  ScratchStore scratch(kind);
  auto store = scratch.open();
  store->append(order_event("1", 1));
  store->append(order_event("1", 2));
  auto metrics = std::make_shared<Metrics>();
  metrics->published("order.updated", 2);
  herald::admin::AdminServer admin(store, metrics, {.port = 0});

  auto health = get(admin.port(), "/healthz");
  CHECK(health.status == 200);
  CHECK(health.json()["status"] == "ok");

  auto m = get(admin.port(), "/metrics");
  REQUIRE(m.status == 200);
  CHECK_THAT(m.content_type, Catch::StartsWith("text/plain"));
  CHECK_THAT(m.body, Catch::Contains("herald_outbox_pending_messages 2\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_outbox_dead_messages 0\n"));
  CHECK_THAT(m.body, Catch::Contains("# TYPE herald_outbox_oldest_pending_age_seconds gauge"));
  CHECK_THAT(m.body, Catch::Contains("order.updated"));  // the bus metrics come first
}

TEST_CASE("the HTTP admin binds loopback by default and refuses a bad address", "[admin][config]") {
  ScratchStore scratch("sqlite");
  CHECK(herald::admin::AdminOptions{}.address == "127.0.0.1");
  CHECK_THROWS_AS(herald::admin::AdminServer(scratch.open(), nullptr, {.address = "not-an-address", .port = 0}), ConfigError);
}
