// The binding without a broker: encode, then decode the same record.

#include <catch2/catch.hpp>

#include "binding.hpp"
#include "herald/errors.hpp"
#include "sample_event.hpp"

using namespace herald;
using namespace herald::kafka;

namespace {

HeaderViews views(const OutRecord& r) {
  HeaderViews out;
  for (const auto& [n, v] : r.headers) out.push_back({n, v});
  return out;
}

Envelope round_trip(const Envelope& e, BindingMode mode) {
  OutRecord r;
  encode_record(e, mode, r);
  return decode_record(r.key, r.value, views(r), DecodeOptions{});
}

}  // namespace

TEST_CASE("both modes carry every attribute and extension", "[kafka][unit][binding]") {
  auto mode = GENERATE(BindingMode::structured, BindingMode::binary);
  Envelope e = herald::test::every_attribute_event();
  e.set_payload({{"id", 1}, {"lines", {1, 2}}});
  e.extensions.erase("priority");  // binary mode carries extensions as text: 3 comes back as "3"
  CHECK(round_trip(e, mode) == e);
}

TEST_CASE("binary mode writes the ce_ headers herald has always written, in order", "[kafka][unit][binding]") {
  Envelope e = herald::test::every_attribute_event();
  OutRecord r;
  encode_record(e, BindingMode::binary, r);
  CHECK(r.key == "42");
  CHECK(r.value == R"({"order_id":"42"})");
  const std::vector<std::pair<std::string, std::string>> golden{
      {"ce_specversion", "1.0"},
      {"ce_id", "0190f2a4-1c2b-7d3e-8f40-5a6b7c8d9e0f"},
      {"ce_type", "order.created"},
      {"ce_source", "svc/orders"},
      {"ce_time", "2026-11-23T09:30:00.123456Z"},
      {"ce_subject", "orders/42"},
      {"ce_dataschema", "https://herald.dev/schemas/order.created.v2.json"},
      {"ce_dataversion", "2"},
      {"ce_partitionkey", "42"},
      {"ce_aggregatetype", "order"},
      {"ce_aggregateid", "42"},
      {"ce_correlationid", "c-1"},
      {"ce_causationid", "c-0"},
      {"ce_traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"ce_actor", "user:7"},
      {"ce_priority", "3"},
      {"ce_tenant", "acme"},
      {"content-type", "application/json"}};
  CHECK(r.headers == golden);

  SECTION("and reads ce_datacontenttype only when there is no content-type") {
    HeaderViews headers{{"ce_specversion", "1.0"}, {"ce_id", "1"}, {"ce_type", "a.b"}, {"ce_source", "s"},
                        {"ce_datacontenttype", "text/plain"}};
    CHECK(decode_record("", "hi", headers, DecodeOptions{}).datacontenttype == "text/plain");
    headers.push_back({"content-type", "application/json"});
    CHECK(decode_record("", "1", headers, DecodeOptions{}).datacontenttype == "application/json");
  }
  SECTION("and refuses a ce_dataversion that is not an integer, naming it") {
    HeaderViews headers{{"ce_specversion", "1.0"}, {"ce_id", "1"}, {"ce_type", "a.b"}, {"ce_source", "s"},
                        {"ce_dataversion", "2x"}};
    CHECK_THROWS_WITH(decode_record("", "", headers, DecodeOptions{}), Catch::Contains("dataversion: '2x'"));
  }
}

TEST_CASE("every attribute of the table round-trips through both modes", "[kafka][unit][binding]") {
  auto mode = GENERATE(BindingMode::structured, BindingMode::binary);
  for (const ext::Attribute& a : ext::attributes) {
    if (a.text == &Envelope::specversion) continue;  // only "1.0" is valid
    INFO(a.name);
    Envelope e = Envelope::make("thing.happened", {{"n", 1}}, "svc/things");
    herald::test::set_sample_value(e, a);
    CHECK(round_trip(e, mode) == e);
  }
}

TEST_CASE("binary mode sends text as text and base64 data as its bytes", "[kafka][unit][binding]") {
  SECTION("text") {
    Envelope e = Envelope::make("note.added", "hello \"world\"", "/notes");
    e.datacontenttype = "text/plain; charset=utf-8";
    OutRecord r;
    encode_record(e, BindingMode::binary, r);
    CHECK(r.value == "hello \"world\"");
    CHECK(round_trip(e, BindingMode::binary) == e);
  }
  SECTION("bytes") {
    Envelope e = Envelope::make("blob.stored", nullptr, "/blobs");
    e.datacontenttype = "application/octet-stream";
    e.data = "\"AAEC/w==\"";  // 00 01 02 ff
    e.extensions["database64"] = true;
    OutRecord r;
    encode_record(e, BindingMode::binary, r);
    CHECK(r.value == std::string("\x00\x01\x02\xff", 4));
    bool has_ext_header = false;
    for (const auto& h : r.headers) has_ext_header = has_ext_header || h.first == "ce_database64";
    CHECK_FALSE(has_ext_header);
    CHECK(round_trip(e, BindingMode::binary) == e);
  }
}

TEST_CASE("records that are not CloudEvents are refused with the reason", "[kafka][unit][binding]") {
  DecodeOptions o;
  SECTION("malformed structured value") {
    CHECK_THROWS_AS(decode_record("", "{oops", {{"content-type", "application/cloudevents+json"}}, o), DecodeError);
  }
  SECTION("batch mode") {
    CHECK_THROWS_WITH(decode_record("", "[]", {{"content-type", "application/cloudevents-batch+json"}}, o),
                      Catch::Contains("batched"));
  }
  SECTION("binary without an id") {
    CHECK_THROWS_WITH(decode_record("", "{}", {{"ce_specversion", "1.0"}, {"ce_type", "a.b"}, {"ce_source", "s"}}, o),
                      Catch::Contains("id"));
  }
  SECTION("binary JSON data that is not JSON") {
    CHECK_THROWS_WITH(decode_record("", "{nope",
                                    {{"ce_specversion", "1.0"}, {"ce_id", "1"}, {"ce_type", "a.b"}, {"ce_source", "s"},
                                     {"content-type", "application/json"}},
                                    o),
                      Catch::Contains("not valid JSON"));
  }
  SECTION("no value and no headers") { CHECK_THROWS_AS(decode_record("k", "", {}, o), DecodeError); }
}

TEST_CASE("a structured value without headers is still read, key as partition key", "[kafka][unit][binding]") {
  Envelope e = Envelope::make("order.paid", {{"n", 1}}, "/payments");
  auto got = decode_record("agg-9", encode(e), {}, DecodeOptions{});
  CHECK(got.id == e.id);
  CHECK(got.partitionkey == "agg-9");
}
