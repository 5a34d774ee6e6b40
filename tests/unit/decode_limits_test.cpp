// Decode refuses what encode, publish or payload() would refuse, with a
// DecodeError naming the field; nothing it accepts fails later.

#include <catch2/catch.hpp>

#include <chrono>

#include "herald/codec.hpp"
#include "herald/errors.hpp"

using namespace herald;

namespace {

std::string refused_field(const std::string& text) {
  try {
    Envelope e = decode(text);
    // Accepted: it must survive everything done with an event later.
    (void)e.payload();
    (void)decode(encode(e));
    return "<accepted>";
  } catch (const DecodeError& e) {
    return e.field();
  } catch (const std::exception& e) {
    return std::string("<not a DecodeError: ") + e.what() + ">";
  }
}

std::string structured(const std::string& extra) {
  return R"({"specversion":"1.0","id":"1","type":"t","source":"s")" + extra + "}";
}

}  // namespace

TEST_CASE("a legacy timestamp out of range is refused, not undefined behaviour", "[codec][legacy]") {
  CHECK(refused_field(R"({"event_id":"1","event_type":"t","timestamp":1e300})") == "timestamp");
  CHECK(refused_field(R"({"event_id":"1","event_type":"t","timestamp":-1e300})") == "timestamp");
  CHECK(refused_field(R"({"event_id":"1","event_type":"t","timestamp":1e12})") == "timestamp");
  CHECK(refused_field(R"({"event_id":"1","event_type":"t","timestamp":1700000000.5})") == "<accepted>");
  CHECK(refused_field(R"({"event_id":"1","event_type":"t","version":4294967297})") == "version");
}

TEST_CASE("strings must be valid UTF-8 without lone surrogates", "[codec][utf8]") {
  CHECK(refused_field(structured(R"(,"data":"\ud800")")) == "data");
  CHECK(refused_field(structured(R"(,"data":{"k":"\udc00x"}})")) == "data");
  CHECK(refused_field(structured(",\"data\":\"\xff\"")) == "data");
  CHECK(refused_field(structured(",\"subject\":\"\xc0\xaf\"")) == "subject");      // overlong '/'
  CHECK(refused_field(structured(",\"subject\":\"\xed\xa0\x80\"")) == "subject");  // encoded surrogate
  CHECK(refused_field(structured(",\"tenant\":\"\xfe\"")) == "tenant");
  CHECK(refused_field(structured(R"(,"tenant":"\ud800")")) == "tenant");
  CHECK(refused_field(structured(R"(,"data":"\ud83d\ude00 ok")")) == "<accepted>");
  CHECK(refused_field(structured(",\"data\":\"\xf0\x9f\x98\x80 \xc3\xbc\"")) == "<accepted>");
}

// validate() checks an envelope built in code (what publish checks): every
// text attribute, a bad byte at the start, in a run of eight, or at the end.
TEST_CASE("an envelope built in code with invalid UTF-8 is refused naming the attribute", "[codec][utf8]") {
  auto refused = [](auto set) -> std::string {
    Envelope e = Envelope::make("order.created", nullptr, "s");
    set(e);
    try {
      validate(e);
      return "<accepted>";
    } catch (const DecodeError& ex) {
      return ex.field();
    }
  };
  CHECK(refused([](Envelope& e) { e.subject = "\xff"; }) == "subject");
  CHECK(refused([](Envelope& e) { e.partitionkey = "account-000000000017\xc0\xaf"; }) == "partitionkey");
  CHECK(refused([](Envelope& e) { e.actor = "abcdefgh\xed\xa0\x80ijklmnop"; }) == "actor");
  CHECK(refused([](Envelope& e) { e.source = "\xe2\x82"; }) == "source");  // cut short
  CHECK(refused([](Envelope& e) { e.subject = "caf\xc3\xa9 \xf0\x9f\x98\x80, twelve+ bytes"; }) == "<accepted>");
  CHECK(refused([](Envelope& e) { e.tracestate = "vendor=plain-ascii-only"; }) == "<accepted>");
}

TEST_CASE("a type longer than publish accepts is refused", "[codec]") {
  std::string long_type(256, 'a');
  CHECK(refused_field(R"({"specversion":"1.0","id":"1","source":"s","type":")" + long_type + "\"}") == "type");
  CHECK(refused_field(R"({"specversion":"1.0","id":"1","source":"s","type":")" + long_type.substr(1) + "\"}") ==
        "<accepted>");
  CHECK(refused_field(R"({"event_id":"1","event_type":")" + long_type + "\"}") == "event_type");
  Envelope e = Envelope::make(long_type, nullptr, "s");
  CHECK_THROWS_AS(validate(e), DecodeError);
}

TEST_CASE("numbers the envelope cannot hold are refused", "[codec]") {
  CHECK(refused_field(structured(R"(,"dataversion":4294967297)")) == "dataversion");
  CHECK(refused_field(structured(R"(,"dataversion":"12abc")")) == "dataversion");
  CHECK(refused_field(structured(R"(,"time":"0000-01-01T00:00:00+01:00")")) == "time");
  CHECK(refused_field(structured(R"(,"time":"9999-12-31T23:59:59-01:00")")) == "time");
}

// Found by fuzz_decode: nlohmann (payload()) refuses a number beyond a double.
TEST_CASE("a number in the data beyond a double is refused, as payload() would", "[codec]") {
  CHECK(refused_field(structured(R"(,"data":{"n":[111111111110000000000000000E0000183537014]}})")) == "data");
  CHECK(refused_field(structured(R"(,"data":1e400)")) == "data");
  CHECK(refused_field(structured(R"(,"data":-1e400)")) == "data");
  CHECK(refused_field(structured(R"(,"data":[1e-400,123456789012345678901234567890,2.5])")) == "<accepted>");
  // Without an exponent only the digits' count can reach beyond a double.
  CHECK(refused_field(structured(",\"data\":" + std::string(400, '9'))) == "data");
  CHECK(refused_field(structured(",\"data\":" + std::string(400, '9') + ".5")) == "data");
  CHECK(refused_field(structured(",\"data\":0." + std::string(400, '9'))) == "<accepted>");
  CHECK(refused_field(structured(",\"data\":-" + std::string(290, '9') + ".25")) == "<accepted>");
}
