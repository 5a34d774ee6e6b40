// Credentials in URLs: userinfo read per RFC 3986 (and as users paste it),
// and never printed by redact_url or in any configuration error.

#include <catch2/catch.hpp>

#include <cctype>
#include <random>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/event_store.hpp"
#include "herald/ext/store.hpp"

using namespace herald;

namespace {

// Every message a URL can produce in core: its redacted form and the error
// of each function that reads it (or "" when it is accepted).
std::vector<std::string> messages_for(const std::string& url) {
  std::vector<std::string> out{redact_url(url)};
  auto capture = [&](auto&& fn) {
    try {
      fn();
      out.emplace_back();
    } catch (const std::exception& e) {
      out.emplace_back(e.what());
    }
  };
  capture([&] { Url::parse(url); });
  capture([&] { make_bus(BusConfig::from_url(url)); });
  capture([&] { open_event_store(url); });
  capture([&] { StoreUrl::parse(url); });
  return out;
}

// Every byte but RFC 3986's unreserved characters.
std::string encoded(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
    else out.append({'%', hex[c >> 4], hex[c & 15]});
  }
  return out;
}

std::string random_password(std::mt19937& rng, std::string_view excluded) {
  std::uniform_int_distribution<int> length(12, 24), printable(0x21, 0x7e);
  std::string p;
  for (int n = length(rng); static_cast<int>(p.size()) < n;) {
    char c = static_cast<char>(printable(rng));
    if (excluded.find(c) == std::string_view::npos) p += c;
  }
  return p;
}

}  // namespace

TEST_CASE("a password pasted raw with '/' and '+' is read as the user meant it and never printed", "[config][secrets]") {
  Url u = Url::parse("amqp://app:Zx/9+Qa@host/");
  CHECK(u.user == "app");
  CHECK(u.password == "Zx/9+Qa");
  CHECK(u.host == "host");
  CHECK(u.path.empty());
  CHECK(redact_url("amqp://app:Zx/9+Qa@host/") == "amqp://app:***@host/");
  CHECK(Url::parse("amqp://app:a+b@host/").password == "a+b");
  CHECK(Url::parse("amqp://app:a%2Bb@host/v+h").path == "v+h");
  CHECK(Url::parse("amqp://app:p@ss@host:5672/").password == "p@ss");
  CHECK(Url::parse("amqp://app:p@s/s@host:5672/").password == "p@s/s");
  CHECK(Url::parse("amqp://app:ab?cd@host/vh").password == "ab?cd");
  CHECK(Url::parse("amqp://app:ab?cd@host/vh").path == "vh");
}

TEST_CASE("an '@' in the query of a URL without userinfo is not a userinfo", "[config]") {
  Url u = Url::parse("postgresql://db:5432/x?user=me@corp");
  CHECK(u.host == "db");
  CHECK(u.port == 5432);
  CHECK(u.user.empty());
  CHECK(u.query.at("user") == "me@corp");
  CHECK(Url::parse("amqp://host/my@vhost").host == "host");
  CHECK(BusConfig::from_url("memory://u:p?w@host/?workers=2").url == "memory://u:p?w@host/");
}

TEST_CASE("every credential form is redacted", "[config][secrets]") {
  CHECK(redact_url("postgresql://u@db/x?sslmode=require&password=hunter2") ==
        "postgresql://u@db/x?sslmode=require&password=***");
  CHECK(redact_url("kafka://b:9092?sasl.password=hunter2&kafka.ssl.key.password=hunter3&acks=all") ==
        "kafka://b:9092?sasl.password=***&kafka.ssl.key.password=***&acks=all");
  CHECK(redact_url("kafka://b:9092?kafka.sasl.password=x") == "kafka://b:9092?kafka.sasl.password=***");
  CHECK(redact_url("sqlite:///tmp/x.db?Password=x") == "sqlite:///tmp/x.db?Password=***");
  // Without '@', a pasted "user:password" reads as host:port.
  CHECK(redact_url("amqp://app:hunter2/") == "amqp://app:***/");
  try {
    Url::parse("amqp://app:hunter2/");
    FAIL("expected a bad port");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("bad port") && !Catch::Contains("hunter2"));
  }
}

TEST_CASE("random passwords over all printable characters never appear in a redacted URL or an error",
          "[config][secrets][randomized]") {
  std::mt19937 rng(Catch::rngSeed());
  const std::vector<std::string> bases = {"amqp://app:{}@127.0.0.1:1/vh?heartbeat=5",
                                          "amqps://app:{}@broker.example:5671/",
                                          "kafka://app:{}@127.0.0.1:1?acks=all",
                                          "postgresql://app:{}@127.0.0.1:1/db?sslmode=disable",
                                          "nats://app:{}@h/",
                                          "memory://app:{}@h?workers=nope",
                                          "mysql://app:{}@h:99999/x"};
  const std::vector<std::string> queries = {"postgresql://app@127.0.0.1:1/db?password={}",
                                            "kafka://127.0.0.1:1?sasl.password={}&acks=all",
                                            "kafka://127.0.0.1:1?kafka.ssl.key.password={}",
                                            "amqp://127.0.0.1:1/?x=1&password={}"};
  auto put = [](std::string text, const std::string& password) { return text.replace(text.find("{}"), 2, password); };
  for (int n = 0; n < 2000; ++n) {
    // As written by a careful user (percent-encoded) and pasted raw; a raw
    // '?' is only read right when it cannot be taken for the query.
    std::string password = random_password(rng, n % 2 ? "?" : "");
    std::vector<std::string> urls;
    for (const auto& b : bases) {
      urls.push_back(put(b, encoded(password)));
      if (n % 2) urls.push_back(put(b, password));
    }
    for (const auto& q : queries) urls.push_back(put(q, encoded(password)));
    for (const auto& url : urls) {
      for (const auto& message : messages_for(url)) {
        INFO("password " << password << "\nurl " << url << "\nprinted " << message);
        REQUIRE(message.find(password) == std::string::npos);
        REQUIRE(message.find(encoded(password)) == std::string::npos);
      }
    }
  }
}
