// The attribute table: every codec that walks it writes the bytes herald has
// always written (golden), and every attribute in it round-trips through each.

#include <catch2/catch.hpp>

#include <set>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "herald/ext/store.hpp"
#include "sample_event.hpp"

using namespace herald;
using herald::test::every_attribute_event;
using herald::test::set_sample_value;

namespace {

// What herald has always written for every_attribute_event(), but its data.
const std::string attributes_json =
    R"({"specversion":"1.0","id":"0190f2a4-1c2b-7d3e-8f40-5a6b7c8d9e0f","type":"order.created",)"
    R"("source":"svc/orders","time":"2026-11-23T09:30:00.123456Z","subject":"orders/42",)"
    R"("datacontenttype":"application/json",)"
    R"("dataschema":"https://herald.dev/schemas/order.created.v2.json","dataversion":2,"partitionkey":"42",)"
    R"("aggregatetype":"order","aggregateid":"42","correlationid":"c-1","causationid":"c-0",)"
    R"("traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","actor":"user:7",)"
    R"("priority":3,"tenant":"acme")";

}  // namespace

TEST_CASE("the CloudEvents JSON of an event is byte for byte what herald has always written", "[codec][attributes]") {
  CHECK(encode(every_attribute_event()) == attributes_json + R"(,"data":{"order_id":"42"}})");

  Envelope bare;
  bare.id = "1";
  bare.type = "ping.sent";
  bare.source = "s";
  CHECK(encode(bare) == R"({"specversion":"1.0","id":"1","type":"ping.sent","source":"s"})");
}

TEST_CASE("the stores' metadata is byte for byte what herald has always written", "[store][attributes]") {
  Envelope e = every_attribute_event();
  CHECK(encode_metadata(e) == attributes_json + R"(,"data":null})");

  // An empty datacontenttype takes the general form.
  e.datacontenttype.clear();
  CHECK(encode_metadata(e) ==
        R"({"actor":"user:7","aggregateid":"42","aggregatetype":"order","causationid":"c-0","correlationid":"c-1",)"
        R"("datacontenttype":"","dataschema":"https://herald.dev/schemas/order.created.v2.json","dataversion":2,)"
        R"("extensions":{"priority":3,"tenant":"acme"},"id":"0190f2a4-1c2b-7d3e-8f40-5a6b7c8d9e0f",)"
        R"("partitionkey":"42","source":"svc/orders","specversion":"1.0","subject":"orders/42",)"
        R"("time":"2026-11-23T09:30:00.123456Z","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",)"
        R"("type":"order.created"})");
  Envelope back = decode_stored(encode_metadata(e), e.data);
  CHECK(back == e);
}

TEST_CASE("every attribute of the table round-trips through the JSON codec and the store metadata",
          "[codec][store][attributes]") {
  for (const ext::Attribute& a : ext::attributes) {
    if (a.text == &Envelope::specversion) continue;  // only "1.0" is valid
    INFO(a.name);
    Envelope e = Envelope::make("thing.happened", {{"n", 1}}, "svc/things");
    e.time = parse_time("2026-11-23T09:30:00.123456Z");
    set_sample_value(e, a);
    REQUIRE(ext::is_set(e, a));
    CHECK(decode(encode(e)) == e);
    CHECK(decode_stored(encode_metadata(e), e.data) == e);
    e.datacontenttype.clear();  // the stores' general form
    if (a.text != &Envelope::datacontenttype) CHECK(decode_stored(encode_metadata(e), e.data) == e);
  }
}

TEST_CASE("the table names every attribute once, with its kind's member and a valid name", "[attributes]") {
  std::set<std::string_view> names;
  const Envelope defaults;
  for (const ext::Attribute& a : ext::attributes) {
    INFO(a.name);
    CHECK(names.insert(a.name).second);
    CHECK(valid_attribute_name(a.name));
    CHECK(ext::find_attribute(a.name) == &a);
    int members = (a.text != nullptr) + (a.time != nullptr) + (a.integer != nullptr);
    CHECK(members == 1);
    if (a.kind == ext::AttributeKind::timestamp) CHECK(a.time != nullptr);
    if (a.kind == ext::AttributeKind::integer) CHECK(defaults.*a.integer == a.absent);  // Envelope's default
  }
  CHECK(ext::attributes.front().name == "specversion");
  CHECK(ext::find_attribute("tenant") == nullptr);
}

TEST_CASE("attributes in text form: time as RFC 3339, integers refused unless whole", "[attributes]") {
  Envelope e;
  const ext::Attribute& version = *ext::find_attribute("dataversion");
  ext::set_from_text(e, version, "12");
  CHECK(e.dataversion == 12);
  CHECK(ext::to_text(e, version) == "12");
  CHECK_THROWS_WITH(ext::set_from_text(e, version, "12abc"), Catch::Contains("dataversion: '12abc' is not an integer"));
  CHECK_THROWS_AS(ext::set_from_text(e, version, "99999999999"), DecodeError);
  const ext::Attribute& time = *ext::find_attribute("time");
  ext::set_from_text(e, time, "2026-11-23T09:30:00Z");
  CHECK(ext::to_text(e, time) == "2026-11-23T09:30:00.000000Z");
  CHECK_THROWS_AS(ext::set_from_text(e, time, "yesterday"), DecodeError);
}
