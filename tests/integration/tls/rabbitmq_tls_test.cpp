// RabbitMQ over TLS (amqps://) against the broker's mutual-TLS listener:
// events flow with the broker's certificate verified, and every way the
// handshake can be refused says why.

#include <catch2/catch.hpp>

#include "expired_server.hpp"
#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "tls_env.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// The broker's CA, this run's own exchange and queues, and the client
// certificate `client` (mutual TLS), all overridable by `extra`.
BusConfig tls_config(const std::string& ns, const std::map<std::string, std::string>& extra = {},
                     const std::string& url = amqps_url()) {
  BusConfig c = BusConfig::from_url(url);
  c.options["exchange"] = "herald.tls." + ns;
  c.options["queue_prefix"] = "herald.tls.";
  c.options["queue_expires"] = "10m";
  c.options["connect_timeout"] = "5s";
  c.options["tls_ca"] = tls_file("ca.pem");
  c.options["tls_cert"] = tls_file("client.pem");
  c.options["tls_key"] = tls_file("client.key");
  for (const auto& [k, v] : extra) c.options[k] = v;
  return c;
}

// What building a bus with `config` threw (empty if it did not).
std::string refusal(const BusConfig& config) {
  try {
    auto bus = make_bus(config);
    bus->publish(Envelope::make("tls.probe", {}));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// OpenSSL's verdict on a chain from a CA not trusted: which one depends on
// whether the broker sends its root along.
bool names_untrusted_issuer(const std::string& why) {
  return why.find("unable to get local issuer certificate") != std::string::npos ||
         why.find("self-signed certificate in certificate chain") != std::string::npos;
}

}  // namespace

TEST_CASE("events are published and consumed over amqps with the broker's certificate verified",
          "[rabbitmq][tls]") {
  const std::string ns = unique_name("tls");
  auto bus = make_bus(tls_config(ns));
  Recorder<int> got;
  auto sub = bus->subscribe({.pattern = "parcel.*", .group = ns + "-depot"},
                            [&](const Envelope& e) { got.add(e.payload().at("n").get<int>()); });
  for (int n = 0; n < 50; ++n) bus->publish(Envelope::make("parcel.sent", {{"n", n}}));
  REQUIRE(got.wait_for(50));
  std::vector<int> expected(50);
  for (int n = 0; n < 50; ++n) expected[static_cast<std::size_t>(n)] = n;
  CHECK(got.items() == expected);
}

TEST_CASE("the host name is verified too: a URL naming localhost matches the certificate", "[rabbitmq][tls]") {
  std::string url = amqps_url();
  const auto at = url.find("127.0.0.1");
  REQUIRE(at != std::string::npos);
  url.replace(at, 9, "localhost");
  const std::string ns = unique_name("tls");
  CHECK(refusal(tls_config(ns, {}, url)).empty());
}

TEST_CASE("a broker certificate from a CA the client does not trust is refused as unverified",
          "[rabbitmq][tls][refused]") {
  const std::string why = refusal(tls_config(unique_name("tls"), {{"tls_ca", tls_file("other-ca.pem")}}));
  INFO(why);
  CHECK_THAT(why, Catch::Contains("verification failed"));
  CHECK(names_untrusted_issuer(why));
  CHECK_THAT(why, !Catch::Contains("guest:guest"));
}

TEST_CASE("a broker certificate that expired is refused as expired", "[rabbitmq][tls][refused]") {
  ExpiredCertServer server(tls_file("expired-server.pem"), tls_file("expired-server.key"));
  const std::string url = "amqps://guest:guest@127.0.0.1:" + std::to_string(server.port()) + "/";
  const std::string why = refusal(tls_config(unique_name("tls"), {}, url));
  INFO(why);
  CHECK_THAT(why, Catch::Contains("certificate has expired"));
}

TEST_CASE("the listener requires a client certificate (mutual TLS)", "[rabbitmq][tls][mtls][refused]") {
  const std::string ns = unique_name("tls");
  SECTION("without one the broker refuses the handshake and says a certificate is required") {
    BusConfig c = tls_config(ns);
    c.options.erase("tls_cert");
    c.options.erase("tls_key");
    const std::string why = refusal(c);
    INFO(why);
    CHECK_THAT(why, Catch::Contains("certificate required"));
  }
  SECTION("an expired client certificate is refused as expired") {
    const std::string why =
        refusal(tls_config(ns, {{"tls_cert", tls_file("expired.pem")}, {"tls_key", tls_file("expired.key")}}));
    INFO(why);
    CHECK_THAT(why, Catch::Contains("certificate expired"));
  }
  SECTION("a client certificate from another CA is refused as from an unknown CA") {
    const std::string why = refusal(
        tls_config(ns, {{"tls_cert", tls_file("other-client.pem")}, {"tls_key", tls_file("other-client.key")}}));
    INFO(why);
    CHECK_THAT(why, Catch::Contains("unknown ca"));
  }
}

TEST_CASE("an expired client certificate is refused before connecting and names the option",
          "[rabbitmq][tls][refused]") {
  // Nothing listens on port 1: only a check made before connecting can say why.
  BusConfig c = tls_config(unique_name("tls"), {{"tls_cert", tls_file("expired.pem")}, {"tls_key", tls_file("expired.key")}},
                           "amqps://guest:guest@127.0.0.1:1/");
  try {
    auto bus = make_bus(c);
    FAIL("the bus was built");
  } catch (const ConfigError& e) {
    const std::string why = e.what();
    INFO(why);
    CHECK_THAT(why, Catch::Contains("'tls_cert'") && Catch::Contains("certificate expired on"));
  }
}
