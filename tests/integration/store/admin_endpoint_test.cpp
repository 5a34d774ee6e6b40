// herald::admin::start next to a memory bus and a SQLite store: every route,
// the token on and off, the bounds, and no secret in any reply.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "scratch_store.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

namespace {

struct Reply {
  int status = 0;
  std::string body;
  std::string www_authenticate, allow;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

Reply call(std::uint16_t port, http::verb verb, const std::string& target, const std::string& authorization = {},
           const std::string& body = {}) {
  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.expires_after(10s);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> request(verb, target, 11);
  request.set(http::field::host, "127.0.0.1");
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  boost::beast::error_code ec;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  return {static_cast<int>(response.result_int()), response.body(), std::string(response[http::field::www_authenticate]),
          std::string(response[http::field::allow])};
}

Reply get(std::uint16_t port, const std::string& target) { return call(port, http::verb::get, target); }

// A service: a memory bus with a mailer that succeeds and a billing group
// whose handler refuses (non-retriable) until told otherwise.
struct Service {
  ScratchStore scratch{"sqlite"};
  std::shared_ptr<EventStore> store = scratch.open();
  std::unique_ptr<EventBus> bus = make_bus("memory://");
  std::atomic<bool> billing_fails{true};
  std::atomic<int> billed{0};
  Subscription mailer = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [](const Envelope&) {});
  Subscription billing = bus->subscribe({.pattern = "order.*", .group = "billing"}, [this](const Envelope&) {
    if (billing_fails) throw ConfigError("billing refuses");
    ++billed;
  });

  Envelope publish() {
    Envelope e = Envelope::make("order.created", {{"order_id", "42"}}, "orders");
    e.aggregatetype = "order";
    e.aggregateid = "42";
    store->append(e);  // the outbox row, for /v1/events
    bus->publish(e);
    REQUIRE(bus->flush(10s));
    return e;
  }
};

}  // namespace

TEST_CASE("the admin endpoint serves a bus's metrics, lag and outbox gauges, health and readiness", "[admin][endpoint]") {
  Service s;
  Envelope e = s.publish();
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = ""});
  REQUIRE(endpoint->port() != 0);

  auto m = get(endpoint->port(), "/metrics");
  REQUIRE(m.status == 200);
  CHECK_THAT(m.body, Catch::Contains("herald_messages_published_total{transport=\"memory\",type=\"order.created\"} 1\n"));
  CHECK_THAT(m.body, Catch::Contains(
                         "herald_messages_consumed_total{transport=\"memory\",type=\"order.created\",group=\"mailer\","
                         "outcome=\"success\"} 1\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_dead_letters_total{transport=\"memory\",type=\"order.created\","
                                     "group=\"billing\",reason=\"non_retriable\"} 1\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_consumer_lag_messages{transport=\"memory\",group=\"mailer\"} 0\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_consumer_dead_letter_messages{transport=\"memory\",group=\"billing\"} 1\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_consumer_backlog_up{transport=\"memory\",group=\"billing\"} 1\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_outbox_pending_messages 1\n"));
  CHECK_THAT(m.body, Catch::Contains("# TYPE herald_outbox_oldest_pending_age_seconds gauge\n"));
  CHECK_THAT(m.body, !Catch::Contains(e.id));  // labels never carry an event id

  auto health = get(endpoint->port(), "/healthz");
  CHECK(health.status == 200);
  CHECK(health.json()["status"] == "ok");
  auto ready = get(endpoint->port(), "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.json()["status"] == "ready");
  CHECK(ready.json()["checks"].size() == 3);  // billing, mailer, relay

  auto one = get(endpoint->port(), "/v1/events/" + e.id);
  CHECK(one.status == 200);
  CHECK(one.json()["event"]["id"] == e.id);
  CHECK(get(endpoint->port(), "/v1/events?aggregateType=order&aggregateId=42").json()["events"].size() == 1);
}

TEST_CASE("the admin endpoint is not ready while a group has no consumer or the relay lags", "[admin][endpoint]") {
  Service s;
  s.publish();
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0",
                                     .store = s.store,
                                     .groups = {{"mailer", "order.#"}, {"never-subscribed", "#"}},
                                     .max_relay_lag = 0s});
  REQUIRE(wait_until([&] { return get(endpoint->port(), "/readyz").status == 503; }, 5s));
  auto ready = get(endpoint->port(), "/readyz").json();
  CHECK(ready["status"] == "not ready");
  std::vector<std::string> failing;
  for (const auto& c : ready["checks"])
    if (!c["ok"].get<bool>()) failing.push_back(c["check"].get<std::string>());
  CHECK(failing == std::vector<std::string>{"group never-subscribed", "relay"});
  CHECK(get(endpoint->port(), "/healthz").status == 200);  // alive all the same
}

TEST_CASE("the admin endpoint lists, shows, replays and purges dead letters, the last two with the token",
          "[admin][endpoint][dead-letters]") {
  const std::string token = "s3cret-" + unique_name("token");
  Service s;
  Envelope first = s.publish();
  Envelope second = s.publish();
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0", .store = s.store, .token = token});
  std::vector<Reply> replies;
  auto keep = [&](Reply r) {
    replies.push_back(r);
    return r;
  };

  auto list = keep(get(endpoint->port(), "/v1/dead-letters/billing"));
  REQUIRE(list.status == 200);
  REQUIRE(list.json()["deadLetters"].size() == 2);
  CHECK(list.json()["deadLetters"][0]["reason"] == "non_retriable");
  CHECK(keep(get(endpoint->port(), "/v1/dead-letters/billing?limit=1")).json()["deadLetters"].size() == 1);
  auto shown = keep(get(endpoint->port(), "/v1/dead-letters/billing/" + first.id));
  CHECK(shown.status == 200);
  CHECK_THAT(shown.body, Catch::Contains(first.id));
  CHECK(keep(get(endpoint->port(), "/v1/dead-letters/billing/no-such-id")).status == 404);

  // Without the token, or with another, nothing moves.
  auto anonymous = keep(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/replay"));
  CHECK(anonymous.status == 401);
  CHECK(anonymous.www_authenticate == "Bearer");
  CHECK(keep(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/replay", "Bearer " + token + "x")).status ==
        401);
  CHECK(keep(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/purge", "Basic " + token)).status == 401);
  auto wrong_verb = keep(get(endpoint->port(), "/v1/dead-letters/billing/replay"));
  CHECK(wrong_verb.status == 405);
  CHECK(wrong_verb.allow == "POST");
  CHECK(s.bus->dead_letters("billing").size() == 2);

  // With it: one replayed by id (the handler works now), the other purged.
  s.billing_fails = false;
  auto replayed = keep(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/replay?id=" + first.id,
                            "Bearer " + token));
  CHECK(replayed.status == 200);
  CHECK(replayed.json()["replayed"] == 1);
  REQUIRE(s.bus->flush(10s));
  CHECK(s.billed == 1);
  auto purged = keep(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/purge", "bearer " + token));
  CHECK(purged.status == 200);
  CHECK(purged.json()["purged"] == 1);
  CHECK(s.bus->dead_letters("billing").empty());

  keep(get(endpoint->port(), "/metrics"));
  keep(get(endpoint->port(), "/readyz"));
  for (const auto& r : replies) CHECK_THAT(r.body, !Catch::Contains(token));
}

TEST_CASE("without a token the admin endpoint's mutating routes are off", "[admin][endpoint][dead-letters]") {
  Service s;
  s.publish();
  SECTION("no token given and none in the environment") {
    ::unsetenv("HERALD_ADMIN_TOKEN");
    auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0"});
    auto r = call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/purge", "Bearer anything");
    CHECK(r.status == 403);
    CHECK_THAT(r.json()["error"].get<std::string>(), Catch::Contains("HERALD_ADMIN_TOKEN"));
    CHECK(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/replay").status == 403);
    CHECK(s.bus->dead_letters("billing").size() == 1);
    CHECK(get(endpoint->port(), "/v1/events").status == 404);  // no store given
  }
  SECTION("the token from HERALD_ADMIN_TOKEN") {
    ::setenv("HERALD_ADMIN_TOKEN", "from-the-environment", 1);
    auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0"});
    ::unsetenv("HERALD_ADMIN_TOKEN");
    CHECK(call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/purge", "Bearer nope").status == 401);
    auto r = call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/purge", "Bearer from-the-environment");
    CHECK(r.status == 200);
    CHECK(r.json()["purged"] == 1);
  }
}

TEST_CASE("the admin endpoint bounds request size and connections", "[admin][endpoint][hardening]") {
  Service s;
  auto endpoint = admin::start(*s.bus, {.listen = "127.0.0.1:0",
                                     .token = "t",
                                     .max_connections = 1,
                                     .max_body_bytes = 1024});
  auto big = call(endpoint->port(), http::verb::post, "/v1/dead-letters/billing/purge", "Bearer t", std::string(4096, 'x'));
  CHECK(big.status == 413);

  // A connection that ended lingers a moment and keeps its slot (or its
  // refusal's place) meanwhile; beyond as many refusals as connections the
  // server drops new ones unanswered: a dropped attempt only means "not yet".
  auto healthz = [&]() -> int {
    try {
      return get(endpoint->port(), "/healthz").status;
    } catch (const std::exception&) {
      return 0;
    }
  };
  // One connection holds the only slot once it has been answered 200 and
  // kept alive (the 413's connection may still hold it while it lingers, so
  // the first tries can be refused): then the next is answered 503.
  boost::asio::io_context io;
  std::optional<boost::beast::tcp_stream> idle;
  auto hold_slot = [&] {
    try {
      idle.emplace(io);
      idle->expires_after(10s);
      idle->connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), endpoint->port()));
      http::request<http::empty_body> request(http::verb::get, "/healthz", 11);
      request.set(http::field::host, "127.0.0.1");
      request.keep_alive(true);
      http::write(*idle, request);
      boost::beast::flat_buffer buffer;
      http::response<http::string_body> response;
      http::read(*idle, buffer, response);
      return response.result_int() == 200 && response.keep_alive();
    } catch (const std::exception&) {
      return false;
    }
  };
  REQUIRE(wait_until(hold_slot, 10s));
  CHECK(wait_until([&] { return healthz() == 503; }, 5s));
  idle->close();
  CHECK(wait_until([&] { return healthz() == 200; }, 10s));
}

TEST_CASE("the admin endpoint refuses a listen address that is not host:port", "[admin][endpoint][config]") {
  Service s;
  for (const char* listen : {"127.0.0.1", ":9464", "127.0.0.1:99999", "127.0.0.1:x", "[::1:9464", "not-an-ip:0"}) {
    INFO(listen);
    CHECK_THROWS_AS(admin::start(*s.bus, {.listen = listen}), ConfigError);
  }
  auto v6 = admin::start(*s.bus, {.listen = "[::1]:0"});
  CHECK(v6->port() != 0);
}

TEST_CASE("the admin endpoint of an outbox bus shows its transport's retries and dead letters and its own store",
          "[admin][endpoint][outbox]") {
  ScratchStore scratch("sqlite");
  scratch.open();
  auto bus = make_outbox_bus(BusConfig::from_url("memory://"), scratch.url());
  auto sub = bus->subscribe({.pattern = "order.*", .group = "billing", .retry = {.max_attempts = 2, .initial_delay = 1ms}},
                            [](const Envelope&) { throw std::runtime_error("down"); });
  bus->publish(Envelope::make("order.created", {{"order_id", "7"}}, "orders"));
  REQUIRE(wait_until([&] { return bus->dead_letters("billing").size() == 1; }, 10s));
  // One call, no store given: the outbox's own.
  auto endpoint = admin::start(*bus, {.listen = "127.0.0.1:0", .token = ""});
  auto m = get(endpoint->port(), "/metrics");
  REQUIRE(m.status == 200);
  const std::string of = "{transport=\"outbox+memory\",type=\"order.created\",group=\"billing\"";
  CHECK_THAT(m.body, Catch::Contains("herald_retries_total" + of + "} 1\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_dead_letters_total" + of + ",reason=\"max_attempts\"} 1\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_messages_consumed_total" + of + ",outcome=\"failure\"} 2\n"));
  CHECK_THAT(m.body, Catch::Contains("herald_outbox_pending_messages 0\n"));
  CHECK(get(endpoint->port(), "/v1/events?limit=10").json()["events"].size() == 1);
}
