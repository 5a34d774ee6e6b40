// CloudEvents POSTed to herald's ingress by the official CloudEvents SDK
// (npm `cloudevents`, emit.js): binary, structured and batched, duplicates,
// malformed bodies and bad credentials, each event reaching a herald handler
// on memory, RabbitMQ and Kafka, and through an outbox (SQLite) with 202.

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "herald/testing/isolation.hpp"
#include "wait.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

const std::string token = "ingress-t0ken";
const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::vector<std::string> transports() {
  return {"memory://", test::env_or("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
          "kafka://" + test::env_or("HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:9092")};
}

struct Received {
  std::mutex mutex;
  std::vector<Envelope> events;
  void add(const Envelope& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  }
  std::map<std::string, int> ids() {
    std::lock_guard lock(mutex);
    std::map<std::string, int> out;
    for (const auto& e : events) ++out[e.id];
    return out;
  }
  Envelope find(const std::string& id) {
    std::lock_guard lock(mutex);
    for (const auto& e : events)
      if (e.id == id) return e;
    return {};
  }
};

// Runs emit.js against the ingress; its answers by case.
std::map<std::string, nlohmann::json> emit(std::uint16_t port, const std::string& prefix,
                                           std::map<std::string, std::string> env = {}) {
  test::ChildProcess node({HERALD_NODE, HERALD_INGRESS_EMITTER, "http://127.0.0.1:" + std::to_string(port) + "/v1/events",
                           token, secret, prefix},
                          {.env = std::move(env), .capture_errors = true});
  std::map<std::string, nlohmann::json> answers;
  while (auto line = node.read_line(60s)) {
    INFO(*line);
    auto j = nlohmann::json::parse(*line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    answers[j["case"].get<std::string>()] = j;
  }
  CHECK(node.wait() == 0);
  return answers;
}

nlohmann::json body(const nlohmann::json& answer) { return nlohmann::json::parse(answer["body"].get<std::string>()); }

// What every run checks: the statuses of the refusals and the duplicates,
// and that the handler got each published event once.
void check_run(std::map<std::string, nlohmann::json>& answers, Received& received, const std::string& prefix,
               int accepted_status) {
  for (const char* name : {"binary", "structured", "batch", "signed"}) {
    INFO(name << ": " << answers[name].dump());
    CHECK(answers[name]["status"] == accepted_status);
    CHECK(body(answers[name])["duplicates"] == 0);
  }
  CHECK(body(answers["batch"])["accepted"] == 3);
  for (const char* name : {"duplicate", "duplicate-in-batch"}) {
    INFO(name << ": " << answers[name].dump());
    CHECK(answers[name]["status"] == accepted_status);  // acknowledged like the first time
    CHECK(body(answers[name]) == nlohmann::json{{"accepted", 0}, {"duplicates", 1}, {"durable", accepted_status == 202}});
  }
  for (const char* name : {"malformed-json", "malformed-batch", "malformed-binary"}) {
    INFO(name << ": " << answers[name].dump());
    CHECK(answers[name]["status"] == 400);
    CHECK(body(answers[name]).contains("error"));
  }
  CHECK(body(answers["malformed-batch"])["index"] == 1);
  CHECK_THAT(body(answers["malformed-batch"])["error"].get<std::string>(), Catch::Contains("type"));
  CHECK_THAT(body(answers["malformed-binary"])["error"].get<std::string>(), Catch::Contains("id"));
  for (const char* name : {"unauthenticated", "wrong-token", "forged"}) {
    INFO(name << ": " << answers[name].dump());
    CHECK(answers[name]["status"] == 401);
  }

  CHECK(answers["oversize"]["status"] == 413);
  CHECK_THAT(body(answers["oversize"])["error"].get<std::string>(), Catch::Contains("65536 bytes"));

  const std::vector<std::string> expected{prefix + "-binary",  prefix + "-structured", prefix + "-batch-0",
                                          prefix + "-batch-1", prefix + "-batch-2",    prefix + "-signed"};
  REQUIRE(test::wait_until(
      [&] {
        auto ids = received.ids();
        for (const auto& id : expected)
          if (!ids.count(id)) return false;
        return true;
      },
      60s));
  test::wait_until([] { return false; }, 500ms);  // nothing more may come
  auto ids = received.ids();
  CHECK(ids.size() == expected.size());
  for (const auto& id : expected) CHECK(ids[id] == 1);
  Envelope first = received.find(prefix + "-binary");
  CHECK(first.source == "/partners/acme");
  CHECK(first.type == "order.created");
  CHECK(first.partitionkey == "order-1");
  CHECK(first.payload() == nlohmann::json{{"n", 1}, {"note", "caf\xC3\xA9 100%"}});
  CHECK(received.find(prefix + "-structured").subject == "order/2");
}

admin::Options ingress_options() {
  admin::Options o;
  o.listen = "127.0.0.1:0";
  o.token = "";
  o.ingress = admin::IngressOptions{.token = token, .secret = secret, .max_body_bytes = 64 * 1024};
  return o;
}

}  // namespace

TEST_CASE("events POSTed with the CloudEvents SDK reach a herald handler on every transport",
          "[ingress][integration]") {
  const std::string url = GENERATE(from_range(transports()));
  CAPTURE(redact_url(url));
  auto bus = make_bus(testing::namespaced(BusConfig::from_url(url), "herald-ingress"));
  Received received;
  auto sub = bus->subscribe({.pattern = "order.*", .group = testing::unique_name("ingress")},
                            [&](const Envelope& e) { received.add(e); });
  auto server = admin::start(*bus, ingress_options());
  const std::string prefix = testing::unique_name("ce");
  auto answers = emit(server->port(), prefix);
  check_run(answers, received, prefix, 200);
}

TEST_CASE("through an outbox the ingress answers 202 once stored, and the relay delivers", "[ingress][integration]") {
  const auto dir = std::filesystem::temp_directory_path() / testing::unique_name("herald-ingress");
  std::filesystem::create_directories(dir);
  {
    auto bus = make_outbox_bus(BusConfig::from_url("memory://"), "sqlite://" + (dir / "events.db").string());
    Received received;
    auto sub = bus->subscribe({.pattern = "order.*", .group = "ingress"}, [&](const Envelope& e) { received.add(e); });
    auto server = admin::start(*bus, ingress_options());
    const std::string prefix = testing::unique_name("ce");
    auto answers = emit(server->port(), prefix);
    check_run(answers, received, prefix, 202);
    // Stored before the answer: the store holds each event once.
    for (const char* id : {"-binary", "-batch-2", "-signed"}) CHECK(bus->store().find(prefix + id));
    server->stop();
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("over the wire, a request past the rate gets 429 with Retry-After", "[ingress][integration]") {
  namespace beast = boost::beast;
  namespace http = beast::http;
  auto bus = make_bus("memory://");
  admin::Options o = ingress_options();
  o.ingress->rate_per_second = 0.01;
  o.ingress->burst = 1;
  auto server = admin::start(*bus, o);
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server->port()));
  stream.expires_after(10s);
  auto post = [&](const std::string& id) {
    http::request<http::string_body> request(http::verb::post, "/v1/events", 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + token);
    request.set(http::field::content_type, "application/cloudevents+json");
    request.body() = R"({"specversion":"1.0","id":")" + id + R"(","type":"order.created","source":"/s"})";
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return response;
  };
  CHECK(post("r-1").result_int() == 200);
  auto limited = post("r-2");
  CHECK(limited.result_int() == 429);
  CHECK(std::stoi(std::string(limited[http::field::retry_after])) >= 1);
  CHECK_THAT(limited.body(), Catch::Contains("rate limit"));
}

// Not a test (hidden): events/s through the ingress to a memory bus, one
// event per request and 100 per batch, from the SDK's serialiser.
TEST_CASE("ingress throughput", "[.][bench][ingress]") {
  const bool outbox = GENERATE(false, true);
  const auto dir = std::filesystem::temp_directory_path() / testing::unique_name("herald-ingress-bench");
  std::filesystem::create_directories(dir);
  std::unique_ptr<EventBus> bus =
      outbox ? std::unique_ptr<EventBus>(make_outbox_bus(BusConfig::from_url("memory://"),
                                                         "sqlite://" + (dir / "events.db").string()))
             : make_bus("memory://");
  std::atomic<int> handled{0};
  auto sub = bus->subscribe({.pattern = "order.*", .group = "bench"}, [&](const Envelope&) { ++handled; });
  admin::Options o = ingress_options();
  o.ingress->rate_per_second = 0;
  auto server = admin::start(*bus, o);
  auto answers = emit(server->port(), testing::unique_name("ce"), {{"INGRESS_BENCH", "5000"}});
  WARN((outbox ? "outbox (SQLite) + memory: " : "memory: ") << answers["bench"].dump());
  CHECK(test::wait_until([&] { return handled.load() == 10000; }, 120s));
  server->stop();
  sub = {};
  bus.reset();
  std::filesystem::remove_all(dir);
}
