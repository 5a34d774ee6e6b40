// The CloudEvents HTTP ingress without sockets: parse_ingress on the three
// modes and malformed input, and Ingress::handle (authentication, rate,
// deduplication, schemas, the status per bus) over a memory bus.

#include <catch2/catch.hpp>

#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/webhook.hpp"
#include "ingress.hpp"
#include "ingress_parse.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::admin;
using namespace std::chrono_literals;

namespace {

const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string structured_event(const std::string& id, const std::string& extra = "") {
  return R"({"specversion":"1.0","id":")" + id + R"(","type":"order.created","source":"/partners/acme")" + extra +
         R"(,"data":{"n":1}})";
}

IngressRefusal refusal_of(const HeaderFields& headers, std::string_view body) {
  try {
    parse_ingress(headers, body, {});
  } catch (const IngressRefusal& r) {
    return r;
  }
  FAIL("the request was accepted");
  return {};
}

// A memory bus whose handler records what arrives.
struct Fixture {
  std::unique_ptr<EventBus> bus = make_bus("memory://");
  std::mutex mutex;
  std::vector<Envelope> received;
  Subscription sub = bus->subscribe({.pattern = "#", .group = "ingress-test"}, [this](const Envelope& e) {
    std::lock_guard lock(mutex);
    received.push_back(e);
  });

  std::size_t count() {
    bus->flush(5s);
    std::lock_guard lock(mutex);
    return received.size();
  }
};

struct Request {
  std::string authorization = "Bearer t0ken";
  HeaderFields headers;
  std::string body;
  AdminRequest view() const { return {"POST", "/v1/events", authorization, headers, body}; }
};

Request structured_request(const std::string& id) {
  return {"Bearer t0ken", {{"Content-Type", "application/cloudevents+json"}}, structured_event(id)};
}

nlohmann::json body_of(const AdminReply& reply) { return nlohmann::json::parse(reply.body); }

}  // namespace

TEST_CASE("binary mode: ce- headers are the attributes, content-type and body the data", "[ingress][unit]") {
  HeaderFields headers{{"CE-SpecVersion", "1.0"},     {"ce-id", "e-1"},
                       {"ce-type", "order.created"},  {"ce-source", "/partners/acme"},
                       {"ce-time", "2026-11-23T09:30:00Z"}, {"ce-subject", "caf%C3%A9%20100%25"},
                       {"ce-partitionkey", "42"},      {"ce-tenant", "blue"},
                       {"Content-Type", "application/json; charset=utf-8"}};
  auto parsed = parse_ingress(headers, R"( {"n": 1} )", {});
  REQUIRE(parsed.mode == IngressMode::binary);
  REQUIRE(parsed.events.size() == 1);
  const Envelope& e = parsed.events[0];
  CHECK(e.id == "e-1");
  CHECK(e.source == "/partners/acme");
  CHECK(e.subject == "caf\xC3\xA9 100%");  // percent-decoded
  CHECK(e.partitionkey == "42");
  CHECK(e.extensions.at("tenant") == "blue");
  CHECK(e.datacontenttype == "application/json; charset=utf-8");
  CHECK(e.payload() == nlohmann::json{{"n", 1}});
  CHECK(format_time(e.time) == "2026-11-23T09:30:00.000000Z");

  SECTION("text data travels as text, other types as bytes") {
    headers.back().second = "text/plain";
    CHECK(parse_ingress(headers, "hello", {}).events[0].data == "\"hello\"");
    headers.back().second = "application/octet-stream";
    auto bytes = parse_ingress(headers, std::string("\x00\xFF", 2), {}).events[0];
    CHECK(bytes.extensions.at("database64") == true);
  }
}

TEST_CASE("structured and batched modes decode every event; a batch names the bad index", "[ingress][unit]") {
  auto one = parse_ingress({{"content-type", "application/cloudevents+json; charset=UTF-8"}}, structured_event("s-1"), {});
  CHECK(one.mode == IngressMode::structured);
  CHECK(one.events.at(0).id == "s-1");

  const HeaderFields batch{{"Content-Type", "application/cloudevents-batch+json"}};
  auto many = parse_ingress(batch, "[" + structured_event("b-0", R"(,"subject":"a ] } \" [")") + " , " +
                                       structured_event("b-1") + "]",
                            {});
  CHECK(many.mode == IngressMode::batch);
  REQUIRE(many.events.size() == 2);
  CHECK(many.events[0].subject == "a ] } \" [");
  CHECK(many.events[1].id == "b-1");
  CHECK(parse_ingress(batch, " [ ] ", {}).events.empty());

  auto bad = refusal_of(batch, "[" + structured_event("b-0") + R"(, {"specversion":"1.0","id":"x","source":"/s"}])");
  CHECK(bad.status == 400);
  CHECK(bad.index == 1);
  CHECK_THAT(bad.message, Catch::StartsWith("batch[1]: ") && Catch::Contains("type"));
  CHECK(refusal_of(batch, "[" + structured_event("b-0") + ", 7]").index == 1);
  CHECK(refusal_of(batch, "{}").message == "the batch is not a JSON array");
  CHECK(refusal_of(batch, "[" + structured_event("b-0")).status == 400);
  CHECK(refusal_of(batch, "[" + structured_event("b-0") + "] x").message == "text after the batch's closing ']'");
}

TEST_CASE("malformed requests are refused with the problem named", "[ingress][unit]") {
  const HeaderFields structured{{"content-type", "application/cloudevents+json"}};
  CHECK_THAT(refusal_of(structured, "{\"specversion\": ").message, Catch::Contains("specversion"));
  CHECK_THAT(refusal_of(structured, R"({"specversion":"1.0","id":"x","type":"t.a","source":"/s","data":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})")
                 .message,
             Catch::Contains("data"));
  // The legacy snake_case envelope is herald's own past, not a CloudEvent.
  CHECK(refusal_of(structured, R"({"event_id":"x","event_type":"order.created","timestamp":"2026-11-23T09:30:00Z"})")
            .status == 400);
  CHECK(refusal_of({{"content-type", "application/cloudevents+xml"}}, "<e/>").status == 415);
  CHECK_THAT(refusal_of({{"content-type", "application/json"}}, "{}").message, Catch::Contains("no ce-specversion"));
  CHECK_THAT(refusal_of({}, "").message, Catch::Contains("content-type absent"));

  HeaderFields binary{{"ce-specversion", "1.0"}, {"ce-type", "order.created"}, {"ce-source", "/s"}};
  CHECK_THAT(refusal_of(binary, "{}").message, Catch::Contains("id"));
  binary.emplace_back("ce-id", "x");
  CHECK_THAT(refusal_of(binary, "{not json").message, Catch::Contains("not valid JSON"));
  auto with = [&](std::string_view name, std::string_view value) {
    HeaderFields h = binary;
    h.emplace_back(name, value);
    return refusal_of(h, "{}").message;
  };
  CHECK_THAT(with("ce-time", "yesterday"), Catch::Contains("ce-time"));
  CHECK_THAT(with("ce-subject", "%zz"), Catch::Contains("bad percent escape"));
  CHECK_THAT(with("ce-subject", "%FF"), Catch::Contains("not UTF-8"));
  CHECK_THAT(with("ce-Bad_Name", "1"), Catch::Contains("not a CloudEvents attribute name"));
  CHECK_THAT(with("ce-id", "y"), Catch::Contains("given twice"));
  CHECK_THAT(with("ce-specversion", "0.3"), Catch::Contains("specversion"));
}

TEST_CASE("the ingress publishes on the bus and answers 200; a duplicate is acknowledged, not published twice",
          "[ingress][unit]") {
  Fixture f;
  Ingress ingress(*f.bus, {.token = "t0ken"});
  auto reply = ingress.handle(structured_request("d-1").view());
  CHECK(reply.status == 200);
  CHECK(body_of(reply) == nlohmann::json{{"accepted", 1}, {"duplicates", 0}, {"durable", false}});
  auto again = ingress.handle(structured_request("d-1").view());
  CHECK(again.status == 200);
  CHECK(body_of(again)["duplicates"] == 1);
  CHECK(f.count() == 1);

  SECTION("another source with the same id is another event") {
    Request other = structured_request("d-1");
    other.body = R"({"specversion":"1.0","id":"d-1","type":"order.created","source":"/partners/other"})";
    CHECK(body_of(ingress.handle(other.view()))["accepted"] == 1);
    CHECK(f.count() == 2);
  }
  SECTION("a batch publishes its new events only, once each") {
    Request batch{"Bearer t0ken", {{"content-type", "application/cloudevents-batch+json"}},
                  "[" + structured_event("d-1") + "," + structured_event("d-2") + "," + structured_event("d-2") + "]"};
    auto r = ingress.handle(batch.view());
    CHECK(body_of(r) == nlohmann::json{{"accepted", 1}, {"duplicates", 2}, {"durable", false}});
    CHECK(f.count() == 2);
  }
}

TEST_CASE("the dedup memory is bounded by its window and its capacity", "[ingress][unit]") {
  Fixture f;
  Ingress small(*f.bus, {.token = "t0ken", .dedup_capacity = 2});
  for (const char* id : {"c-1", "c-2", "c-3"}) small.handle(structured_request(id).view());
  // c-1 was forgotten to make room: sent again, it is published again.
  CHECK(body_of(small.handle(structured_request("c-1").view()))["accepted"] == 1);
  CHECK(body_of(small.handle(structured_request("c-3").view()))["duplicates"] == 1);

  Ingress brief(*f.bus, {.token = "t0ken", .dedup_window = 1s});
  brief.handle(structured_request("w-1").view());
  CHECK(body_of(brief.handle(structured_request("w-1").view()))["duplicates"] == 1);
  CHECK(test::wait_until([&] { return body_of(brief.handle(structured_request("w-1").view()))["accepted"] == 1; }, 5s));
}

TEST_CASE("a batch is refused whole when one event is bad, naming its index", "[ingress][unit]") {
  Fixture f;
  Ingress ingress(*f.bus, {.token = "t0ken"});
  Request batch{"Bearer t0ken", {{"content-type", "application/cloudevents-batch+json"}},
                "[" + structured_event("a-0") + R"(,{"specversion":"1.0","id":"a-1","type":"order.created"}])"};
  auto reply = ingress.handle(batch.view());
  CHECK(reply.status == 400);
  auto body = body_of(reply);
  CHECK(body["index"] == 1);
  CHECK_THAT(body["error"].get<std::string>(), Catch::Contains("source"));
  CHECK(f.count() == 0);
}

TEST_CASE("the catalog's schema is checked before anything is published", "[ingress][unit]") {
  Fixture f;
  auto catalog = std::make_shared<Catalog>();
  catalog->add("order.created", 1,
               {{"type", "object"}, {"required", {"n"}}, {"properties", {{"n", {{"type", "integer"}}}}}});
  Ingress ingress(*f.bus, {.token = "t0ken", .catalog = catalog});
  Request batch{"Bearer t0ken", {{"content-type", "application/cloudevents-batch+json"}},
                "[" + structured_event("k-0") + R"(,{"specversion":"1.0","id":"k-1","type":"order.created","source":"/s","data":{"n":"one"}}])"};
  auto reply = ingress.handle(batch.view());
  CHECK(reply.status == 400);
  CHECK(body_of(reply)["index"] == 1);
  CHECK(f.count() == 0);
  CHECK(ingress.handle(structured_request("k-2").view()).status == 200);
}

TEST_CASE("the ingress authenticates by bearer token or Standard Webhooks signature", "[ingress][unit]") {
  Fixture f;
  Ingress ingress(*f.bus, {.token = "t0ken", .secret = secret, .signature_tolerance = 60s});
  Request r = structured_request("a-1");
  r.authorization = "";
  CHECK(ingress.handle(r.view()).status == 401);
  r.authorization = "Bearer t0ke";
  CHECK(ingress.handle(r.view()).status == 401);
  r.authorization = "bearer t0ken";  // the scheme is case-insensitive
  CHECK(ingress.handle(r.view()).status == 200);

  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  Request s = structured_request("a-2");
  s.authorization = "";
  std::string stamp = std::to_string(now);
  std::string sig = webhook_detail::sign(secret, "msg-1", now, s.body);
  std::string sigs = "v1,bm90LWl0 " + sig;  // a rotated key's signature first: one match is enough
  s.headers.insert(s.headers.end(), {{"webhook-id", "msg-1"}, {"webhook-timestamp", stamp}, {"webhook-signature", sigs}});
  CHECK(ingress.handle(s.view()).status == 200);

  Request tampered = s;
  tampered.body = structured_event("a-3");
  CHECK(ingress.handle(tampered.view()).status == 401);
  Request stale = s;
  std::string old_stamp = std::to_string(now - 120);
  std::string old_sig = webhook_detail::sign(secret, "msg-1", now - 120, s.body);
  stale.headers = {{"Content-Type", "application/cloudevents+json"}, {"webhook-id", "msg-1"},
                   {"webhook-timestamp", old_stamp}, {"webhook-signature", old_sig}};
  auto refused = ingress.handle(stale.view());
  CHECK(refused.status == 401);
  CHECK_THAT(body_of(refused)["error"].get<std::string>(), Catch::Contains("webhook-timestamp"));
  CHECK(f.count() == 2);

  CHECK_THROWS_AS(Ingress(*f.bus, {}), ConfigError);
  CHECK_THROWS_AS(Ingress(*f.bus, {.secret = "whsec_!!"}), ConfigError);
  CHECK_NOTHROW(Ingress(*f.bus, {.allow_unauthenticated = true}));
}

TEST_CASE("the rate is bounded: an empty bucket answers 429 with Retry-After", "[ingress][unit]") {
  Fixture f;
  Ingress ingress(*f.bus, {.token = "t0ken", .rate_per_second = 0.5, .burst = 2});
  CHECK(ingress.handle(structured_request("r-1").view()).status == 200);
  CHECK(ingress.handle(structured_request("r-2").view()).status == 200);
  auto limited = ingress.handle(structured_request("r-3").view());
  CHECK(limited.status == 429);
  REQUIRE(limited.headers.size() == 1);
  CHECK(limited.headers[0].first == "Retry-After");
  CHECK(std::stoi(limited.headers[0].second) >= 1);
  CHECK(std::stoi(limited.headers[0].second) <= 2);
  CHECK(f.count() == 2);
}

TEST_CASE("ingress options read from JSON", "[ingress][unit]") {
  auto o = IngressOptions::from_json(
      {{"token", "t"}, {"max_body_bytes", 2048}, {"rate_per_second", 5}, {"burst", 10}, {"dedup_window", "30s"}});
  CHECK(o.token == "t");
  CHECK(o.max_body_bytes == 2048);
  CHECK(o.rate_per_second == 5);
  CHECK(o.burst == 10);
  CHECK(o.dedup_window == 30s);
  CHECK_THROWS_WITH(IngressOptions::from_json({{"tokn", "t"}}), Catch::Contains("unknown key 'tokn'"));
  CHECK_THROWS_AS(IngressOptions::from_json({{"burst", -1}}), ConfigError);
  CHECK_THROWS_AS(IngressOptions::from_json({{"max_body_bytes", 1.5}}), ConfigError);
}
