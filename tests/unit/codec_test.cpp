#include <catch2/catch.hpp>

#include <set>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "sample_event.hpp"

using namespace herald;

namespace {

Envelope sample() {
  Envelope e = herald::test::every_attribute_event();
  e.set_payload({{"order_id", "42"}, {"note", "ünïcode \"quoted\"\n"}});
  return e;
}

std::string field_of(const std::string& text) {
  try {
    decode(text);
  } catch (const DecodeError& e) {
    return e.field();
  }
  return "<accepted>";
}

}  // namespace

TEST_CASE("an envelope survives encode and decode unchanged", "[codec]") {
  Envelope e = sample();
  std::string text = encode(e);
  CHECK(decode(text) == e);
  auto j = nlohmann::json::parse(text);
  CHECK(j["specversion"] == "1.0");
  CHECK(j["data"]["order_id"] == "42");
  CHECK(j["dataversion"] == 2);
  CHECK(j["tenant"] == "acme");
}

TEST_CASE("decode_into an envelope that held another event leaves nothing of it", "[codec]") {
  // Every attribute and an extension set, so a field the reset missed shows.
  Envelope used = sample();
  used.tracestate = "vendor=1";
  used.datacontenttype = "application/vnd.sample+json";
  used.extensions["left"] = "over";
  const Envelope sparse = Envelope::make("ping.sent", nullptr, "svc/ping");
  for (const Envelope& next : {sparse, sample()}) {
    const std::string text = encode(next);
    Envelope reused = used;
    decode_into(text, {}, reused);
    CHECK(reused == decode(text));
  }
  // The legacy format decodes onto the same envelope too.
  const std::string legacy = R"({"event_id":"e-1","event_type":"order.created","payload":{"n":1}})";
  Envelope reused = used;
  decode_into(legacy, {}, reused);
  CHECK(reused == decode(legacy));
  // A record that fails leaves an error, not an exception from a half-reset envelope.
  CHECK_THROWS_AS(decode_into("{\"specversion\":\"1.0\"}", {}, reused), DecodeError);
}

TEST_CASE("an event without data has no data attribute and decodes back", "[codec]") {
  Envelope e = Envelope::make("ping.sent", nullptr, "svc/ping");
  auto j = nlohmann::json::parse(encode(e));
  CHECK_FALSE(j.contains("data"));
  CHECK(decode(encode(e)).data.empty());
}

TEST_CASE("decode refuses bad input with an error naming the field", "[codec]") {
  const std::string ok = R"("specversion":"1.0","id":"1","type":"a.b","source":"s")";
  CHECK(field_of("{" + ok + "}") == "<accepted>");
  CHECK(field_of(R"({"specversion":"1.0","type":"a.b","source":"s"})") == "id");
  CHECK(field_of(R"({"specversion":"1.0","id":"","type":"a.b","source":"s"})") == "id");
  CHECK(field_of(R"({"specversion":"1.0","id":"1","source":"s"})") == "type");
  CHECK(field_of(R"({"specversion":"1.0","id":"1","type":"a.b"})") == "source");
  CHECK(field_of(R"({"id":"1","type":"a.b","source":"s"})") == "specversion");
  CHECK(field_of(R"({"specversion":"0.3","id":"1","type":"a.b","source":"s"})") == "specversion");
  CHECK(field_of(R"({"specversion":"1.0","id":7,"type":"a.b","source":"s"})") == "id");
  CHECK(field_of("{" + ok + R"(,"time":"yesterday"})") == "time");
  CHECK(field_of("{" + ok + R"(,"Tenant_Id":"x"})") == "Tenant_Id");
  CHECK(field_of("{" + ok + R"(,"dataversion":"two"})") == "dataversion");
  CHECK(field_of("{" + ok + R"(,"data":{"a":})") == "data");
  CHECK(field_of("not json") == "");
  CHECK(field_of("{" + ok + "} trailing") == "");
  CHECK(field_of("[1,2]") == "");
}

TEST_CASE("data over the configured limit is refused", "[codec]") {
  Envelope e = Envelope::make("blob.stored", {{"bytes", std::string(2000, 'x')}}, "svc/blobs");
  std::string text = encode(e);
  CHECK_NOTHROW(decode(text));
  CHECK_THROWS_WITH(decode(text, {.max_data_bytes = 1000}), Catch::Contains("exceeds the limit of 1000"));
  try {
    decode(text, {.max_data_bytes = 1000});
  } catch (const DecodeError& ex) {
    CHECK(ex.field() == "data");
  }
}

TEST_CASE("the legacy snake_case envelope decodes onto the same Envelope", "[codec][legacy]") {
  std::string legacy = R"({
    "event_id": "evt-1", "event_type": "order.created", "timestamp": "2025-03-01T10:00:00.5+01:00",
    "version": 2, "payload": {"order_id": "42"},
    "metadata": {"correlation_id": "corr-9", "source_service": "orders-v1", "aggregate_id": "42",
                 "aggregate_type": "order", "user_id": "user:7"}})";
  Envelope e = decode(legacy);
  CHECK(e.id == "evt-1");
  CHECK(e.type == "order.created");
  CHECK(format_time(e.time) == "2025-03-01T09:00:00.500000Z");
  CHECK(e.dataversion == 2);
  CHECK(e.payload() == nlohmann::json({{"order_id", "42"}}));
  CHECK(e.correlationid == "corr-9");
  CHECK(e.source == "orders-v1");
  CHECK(e.aggregateid == "42");
  CHECK(e.partitionkey == "42");
  CHECK(e.actor == "user:7");
  CHECK_THROWS_AS(decode(R"({"event_type":"a.b"})"), DecodeError);
  CHECK_THROWS_AS(decode(legacy, {.accept_legacy = false}), DecodeError);
}

TEST_CASE("strings with escapes and unicode round-trip", "[codec]") {
  Envelope e = Envelope::make("text.sent", nullptr, "src");
  e.subject = std::string("tab\there \"q\" back\\slash \x01 ctrl é 😀");
  Envelope d = decode(encode(e));
  CHECK(d.subject == e.subject);
  CHECK(decode(R"({"specversion":"1.0","id":"1","type":"a.b","source":"\u00e9\ud83d\ude00"})").source == "é😀");
}

// The scanner passes strings a word at a time and takes the position of the
// first quote, backslash, control or high byte from the word: put each at
// every offset of a word, with plain bytes either side.
TEST_CASE("a string's special bytes are found at every offset of a word", "[codec]") {
  const std::string head = R"({"specversion":"1.0","id":"1","type":"a.b","source":"s","subject":")";
  for (std::size_t k = 0; k < 17; ++k) {
    INFO("offset " << k);
    const std::string before(k, 'a'), after(12, 'b');
    CHECK(decode(head + before + R"(\"x\\)" + after + "\"}").subject == before + "\"x\\" + after);
    CHECK(decode(head + before + "\xC3\xA9" + after + "\"}").subject == before + "\xC3\xA9" + after);
    CHECK(decode(head + before + "\"}").subject == before);
    CHECK_THROWS_AS(decode(head + before + "\x01" + after + "\"}"), DecodeError);
    CHECK_THROWS_AS(decode(head + before + "\xFF" + after + "\"}"), DecodeError);
    CHECK_THROWS_AS(decode(head + before + "\x7F\xC3" + after + "\"}"), DecodeError);
    // The data's strings are skipped, not copied: the same bytes there.
    const std::string data = R"({"specversion":"1.0","id":"1","type":"a.b","source":"s","data":[")";
    CHECK(decode(data + before + R"(\"x)" + after + "\"]}").data == "[\"" + before + "\\\"x" + after + "\"]");
    CHECK_THROWS_AS(decode(data + before + "\x01" + after + "\"]}"), DecodeError);
  }
}

TEST_CASE("validate finds a byte outside ASCII at every position of a text attribute", "[codec]") {
  // validate() reads each attribute eight bytes at a time and its last
  // bytes one by one: a byte at every position of every length, across the
  // word and the tail, must be seen.
  Envelope e = Envelope::make("a.b", nlohmann::json::object(), "s");
  for (std::size_t n = 1; n < 26; ++n) {
    for (std::size_t k = 0; k < n; ++k) {
      INFO("length " << n << ", position " << k);
      e.subject.assign(n, 'a');
      e.subject[k] = '\xFF';
      try {
        validate(e);
        FAIL("accepted a subject that is not UTF-8");
      } catch (const DecodeError& ex) {
        CHECK(std::string(ex.what()).find("subject") != std::string::npos);
      }
      e.subject.replace(k, 1, "\xC3\xA9");  // the same place, a valid character
      CHECK_NOTHROW(validate(e));
    }
  }
}

TEST_CASE("time is RFC 3339 UTC with microseconds", "[codec][time]") {
  Timestamp t = parse_time("2026-11-23T09:30:00.123456Z");
  CHECK(format_time(t) == "2026-11-23T09:30:00.123456Z");
  CHECK(format_time(parse_time("2026-11-23T09:30:00Z")) == "2026-11-23T09:30:00.000000Z");
  CHECK(format_time(parse_time("2026-11-23T10:30:00.1+01:00")) == "2026-11-23T09:30:00.100000Z");
  CHECK_THROWS_AS(parse_time("2026-11-23 09:30"), DecodeError);
  CHECK_THROWS_AS(parse_time("2026-13-23T09:30:00Z"), DecodeError);
  CHECK_THROWS_AS(parse_time("2026-11-23T09:30:00"), DecodeError);
}

TEST_CASE("ids are UUIDv7: well formed, version 7, unique and time-ordered", "[uuid]") {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 10000; ++i) {
    std::string id = uuid_v7();
    REQUIRE(id.size() == 36);
    REQUIRE(id[14] == '7');
    REQUIRE(std::string("89ab").find(id[19]) != std::string::npos);
    REQUIRE(id > previous);
    previous = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 10000);
}
