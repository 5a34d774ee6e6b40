// Webhook delivery on every transport, against a real HTTP endpoint on
// 127.0.0.1 (receiver.py) that checks each Standard Webhooks signature with
// its own HMAC and with the official `standardwebhooks` package (PyPI, in
// the venv the webhooks_python_env test makes). The same bodies run on
// memory, RabbitMQ and Kafka.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "herald/errors.hpp"
#include "webhook_fixture.hpp"

TEST_CASE("a webhook receives every event once, signed, in order per key, in both modes, from a slow endpoint",
          "[webhooks][integration]") {
  const std::string url = GENERATE(from_range(transports()));
  const auto mode = GENERATE(WebhookOptions::Mode::binary, WebhookOptions::Mode::structured);
  CAPTURE(redact_url(url), mode == WebhookOptions::Mode::binary ? "binary" : "structured");
  // 20 ms per answer: with 4 in flight, later events of a key are queued
  // while an earlier one is still being answered, which is when order could slip.
  Receiver receiver({"--delay-ms", "20"});
  auto bus = make_test_bus(url);
  auto sub = bus->subscribe({.pattern = "order.*", .group = testing::unique_name("hook"), .concurrency = 4},
                            webhook_handler({.name = "orders", .url = receiver.url(), .secret = secret, .mode = mode}));
  std::vector<Envelope> events;
  for (int i = 0; i < 60; ++i) {
    Envelope e = Envelope::make(i % 2 ? "order.paid" : "order.created", {{"n", i}, {"note", "caf\xC3\xA9 100%"}});
    e.partitionkey = "order-" + std::to_string(i % 6);
    events.push_back(std::move(e));
  }
  for (const auto& e : events) bus->publish(e);
  REQUIRE(test::wait_until([&] { return receiver.read() >= events.size(); }, 60s));
  receiver.read(300ms);  // nothing more may come

  CHECK(receiver.accepted.size() == events.size());
  std::map<std::string, std::vector<std::string>> by_key;
  for (const auto& a : receiver.accepted) {
    CHECK(a["mode"] == (mode == WebhookOptions::Mode::binary ? "binary" : "structured"));
    by_key[a["key"].get<std::string>()].push_back(a["id"].get<std::string>());
  }
  for (const auto& e : events) {
    auto& ids = by_key[e.partitionkey];
    REQUIRE_FALSE(ids.empty());
    CHECK(ids.front() == e.id);  // the key's events arrive in publish order
    ids.erase(ids.begin());
  }
}

TEST_CASE("a webhook answering 503 is retried after its Retry-After, and a 4xx dead-letters the event at once",
          "[webhooks][integration]") {
  const std::string url = GENERATE(from_range(transports()));
  CAPTURE(redact_url(url));
  Receiver receiver({"--fail-first", "2", "--refuse-type", "order.cancelled"});
  auto bus = make_test_bus(url);
  const std::string group = testing::unique_name("hook");
  auto sub = bus->subscribe({.pattern = "order.*", .group = group, .retry = quick_retries(5)},
                            webhook_handler({.name = "orders", .url = receiver.url(), .secret = secret}));
  Envelope paid = Envelope::make("order.paid", {{"n", 1}});
  Envelope cancelled = Envelope::make("order.cancelled", {{"n", 2}});
  bus->publish(cancelled);

  const auto published = std::chrono::steady_clock::now();
  bus->publish(paid);
  REQUIRE(test::wait_until([&] { return receiver.read() >= 1; }, 60s));
  CHECK(receiver.accepted[0]["id"] == paid.id);
  CHECK(receiver.accepted[0]["attempt"] == 3);  // two 503s, then accepted
  // Each 503 said Retry-After: 1, longer than the policy's backoff (20-100 ms): honoured.
  CHECK(std::chrono::steady_clock::now() - published >= 1900ms);

  std::vector<DeadLetter> dead;
  REQUIRE(test::wait_until([&] { return !(dead = bus->dead_letters(group)).empty(); }, 60s));
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].event.id == cancelled.id);
  CHECK(dead[0].reason == "non_retriable");
  CHECK_THAT(dead[0].last_error, Catch::Contains("HTTP 422") && Catch::Contains("type refused here") &&
                                     Catch::Contains("webhook 'orders'"));
  CHECK_THAT(dead[0].last_error, !Catch::Contains("127.0.0.1") && !Catch::Contains("token"));
}

TEST_CASE("an unreachable webhook is a retriable failure that names the webhook, not its URL", "[webhooks][unit]") {
  // Port 9 (discard): nothing listens there on a test machine.
  auto handler = webhook_handler({.name = "crm", .url = "http://127.0.0.1:9/secret-path?key=abc", .secret = secret,
                                  .timeout = 2s});
  Envelope e = Envelope::make("order.paid", {{"n", 1}});
  e.source = "/test";
  try {
    handler(e);
    FAIL("delivered to a closed port");
  } catch (const Error& ex) {
    CHECK(ex.retriable());
    CHECK_THAT(ex.what(), Catch::Contains("webhook 'crm'"));
    CHECK_THAT(ex.what(), !Catch::Contains("secret-path") && !Catch::Contains("abc"));
  }
}

TEST_CASE("a webhook's URL and secret are checked when it is made", "[webhooks][unit]") {
  CHECK_THROWS_AS(webhook_handler({.url = "ftp://example.com/x"}), ConfigError);
  CHECK_THROWS_AS(webhook_handler({.url = "http://user:pw@example.com/x"}), ConfigError);
  CHECK_THROWS_AS(webhook_handler({.url = "http://example.com:port/x"}), ConfigError);
  CHECK_THROWS_AS(webhook_handler({.url = "http://example.com/x", .secret = "whsec_not base64!"}), ConfigError);
  CHECK_NOTHROW(webhook_handler({.url = "https://[::1]:8443/x?y=1", .secret = secret}));
}

TEST_CASE("signatures follow Standard Webhooks (its published example)", "[webhooks][unit]") {
  CHECK(webhook_detail::sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232314}") ==
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST_CASE("a 429 and a timeout are retried, the 429 after its Retry-After", "[webhooks][integration]") {
  const std::string url = GENERATE(from_range(transports()));
  CAPTURE(redact_url(url));
  // First try: 429 with Retry-After: 1; second: no answer within the webhook's timeout; third: accepted.
  Receiver receiver({"--fail-first", "1", "--fail-status", "429", "--stall-first", "2"});
  auto bus = make_test_bus(url);
  auto sub = bus->subscribe({.pattern = "order.*", .group = testing::unique_name("hook"), .retry = quick_retries(5)},
                            webhook_handler({.name = "orders", .url = receiver.url(), .secret = secret, .timeout = 500ms}));
  Envelope paid = Envelope::make("order.paid", {{"n", 1}});
  bus->publish(paid);
  REQUIRE(test::wait_until([&] { return receiver.read() >= 1; }, 60s));
  CHECK(receiver.accepted[0]["id"] == paid.id);
  CHECK(receiver.accepted[0]["attempt"] == 3);
  // Retry-After (1 s) and the timeout (0.5 s) both passed before the third
  // try; the policy's own backoff (20-30 ms) would have been far shorter.
  CHECK(receiver.accepted[0]["waited"].get<double>() >= 1.4);
}

TEST_CASE("a receiver killed and restarted mid-stream loses nothing", "[webhooks][integration]") {
  const std::string url = GENERATE(from_range(transports()));
  CAPTURE(redact_url(url));
  auto first = std::make_unique<Receiver>();
  const std::string port = std::to_string(first->port);
  const std::string endpoint = first->url();
  auto bus = make_test_bus(url);
  RetryPolicy patient = quick_retries(200);  // the endpoint is down for a while: keep trying
  patient.max_delay = 200ms;
  auto sub = bus->subscribe({.pattern = "order.*", .group = testing::unique_name("hook"), .concurrency = 4, .retry = patient},
                            webhook_handler({.name = "orders", .url = endpoint, .secret = secret, .timeout = 2s}));
  std::vector<Envelope> events;
  for (int i = 0; i < 80; ++i) {
    Envelope e = Envelope::make("order.paid", {{"n", i}});
    e.partitionkey = "order-" + std::to_string(i % 8);
    events.push_back(e);
  }
  std::set<std::string> got;
  auto collect = [&](Receiver& r) {
    r.read();
    for (const auto& a : r.accepted) got.insert(a["id"].get<std::string>());
  };
  for (int i = 0; i < 40; ++i) bus->publish(events[i]);
  REQUIRE(test::wait_until([&] { return first->read() >= 10; }, 60s));
  first->process.kill9();  // mid-stream: some requests in flight, more queued
  collect(*first);
  for (int i = 40; i < 80; ++i) bus->publish(events[i]);  // published while the endpoint is down
  first.reset();
  Receiver second({"--port", port});
  REQUIRE(test::wait_until([&] {
    collect(second);
    return got.size() >= events.size();
  }, 90s));
  for (const auto& e : events) CHECK(got.count(e.id) == 1);
}

TEST_CASE("a webhook over https checks the endpoint's certificate", "[webhooks][integration]") {
  const std::string tls = test::env_or("HERALD_TEST_TLS_DIR", "");
  REQUIRE_FALSE(tls.empty());  // scripts/test makes the test CA; never skipped
  Receiver receiver({"--tls", tls + "/server.pem", tls + "/server.key"});
  Envelope e = Envelope::make("order.paid", {{"n", 1}});
  e.source = "/test";

  SECTION("trusted through ca_file: delivered") {
    auto handler = webhook_handler({.name = "tls", .url = receiver.url("https"), .secret = secret, .ca_file = tls + "/ca.pem"});
    handler(e);
    REQUIRE(receiver.read(2s) == 1);
    CHECK(receiver.accepted[0]["id"] == e.id);
  }
  SECTION("a certificate no trusted CA signed: a retriable TLS failure") {
    auto handler = webhook_handler({.name = "tls", .url = receiver.url("https"), .secret = secret,
                                    .ca_file = tls + "/other-ca.pem"});
    try {
      handler(e);
      FAIL("delivered to an untrusted endpoint");
    } catch (const Error& ex) {
      CHECK(ex.retriable());
      CHECK_THAT(ex.what(), Catch::Contains("webhook 'tls': TLS handshake failed"));
    }
    CHECK(receiver.read(300ms) == 0);
  }
  SECTION("verification off: delivered") {
    auto handler = webhook_handler({.name = "tls", .url = receiver.url("https"), .secret = secret, .verify_tls = false});
    handler(e);
    REQUIRE(receiver.read(2s) == 1);
  }
}

TEST_CASE("a webhook's CA file is read when it is made", "[webhooks][unit]") {
  try {
    webhook_handler({.name = "crm", .url = "https://127.0.0.1:9/x", .ca_file = "/nonexistent/ca.pem"});
    FAIL("made with a missing CA file");
  } catch (const ConfigError& ex) {
    CHECK_THAT(ex.what(), Catch::Contains("webhook 'crm'") && Catch::Contains("/nonexistent/ca.pem"));
  }
  // http never reads it.
  CHECK_NOTHROW(webhook_handler({.url = "http://127.0.0.1:9/x", .ca_file = "/nonexistent/ca.pem"}));
}
