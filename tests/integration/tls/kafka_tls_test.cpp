// Kafka over SSL against the broker's mutual-TLS listener: events flow with
// the broker's certificate verified, and every way the handshake can be
// refused says why in the error the caller gets.

#include <catch2/catch.hpp>

#include "expired_server.hpp"
#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "tls_env.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// The broker's CA, the client certificate (mutual TLS) and this run's own
// topics, all overridable by `extra` (an empty value removes the option).
BusConfig ssl_config(const std::string& ns, const std::map<std::string, std::string>& extra = {},
                     const std::string& brokers = kafka_ssl_brokers()) {
  BusConfig c = BusConfig::from_url("kafka://" + brokers);
  c.options["topic_prefix"] = "herald-tls." + ns + ".";
  c.options["admin_timeout"] = "8s";
  c.options["kafka.security.protocol"] = "ssl";
  c.options["kafka.ssl.ca.location"] = tls_file("ca.pem");
  c.options["kafka.ssl.certificate.location"] = tls_file("client.pem");
  c.options["kafka.ssl.key.location"] = tls_file("client.key");
  quick_kafka(c);
  for (const auto& [k, v] : extra) {
    if (v.empty()) c.options.erase(k);
    else c.options[k] = v;
  }
  return c;
}

// What publishing through a bus built from `config` threw (empty if nothing).
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

TEST_CASE("events are published and consumed over Kafka SSL with the broker's certificate verified",
          "[kafka][tls]") {
  const std::string ns = unique_name("tls");
  auto bus = make_bus(ssl_config(ns));
  Recorder<int> got;
  auto sub = bus->subscribe({.pattern = "parcel.*", .group = ns + "-depot"},
                            [&](const Envelope& e) { got.add(e.payload().at("n").get<int>()); });
  for (int n = 0; n < 50; ++n) {
    Envelope e = Envelope::make("parcel.sent", {{"n", n}});
    e.partitionkey = "one-key";  // one partition: the order is the publish order
    bus->publish(e);
  }
  REQUIRE(got.wait_for(50, std::chrono::seconds(60)));
  std::vector<int> expected(50);
  for (int n = 0; n < 50; ++n) expected[static_cast<std::size_t>(n)] = n;
  CHECK(got.items() == expected);
}

TEST_CASE("a Kafka broker certificate from a CA the client does not trust is refused as unverified",
          "[kafka][tls][refused]") {
  const std::string why = refusal(ssl_config(unique_name("tls"), {{"kafka.ssl.ca.location", tls_file("other-ca.pem")}}));
  INFO(why);
  CHECK_THAT(why, Catch::Contains("certificate verify failed"));
  CHECK(names_untrusted_issuer(why));
}

TEST_CASE("a Kafka broker certificate that expired is refused as expired", "[kafka][tls][refused]") {
  ExpiredCertServer server(tls_file("expired-server.pem"), tls_file("expired-server.key"));
  const std::string why = refusal(ssl_config(unique_name("tls"), {}, server.address()));
  INFO(why);
  CHECK_THAT(why, Catch::Contains("certificate has expired"));
}

TEST_CASE("the Kafka SSL listener requires a client certificate (mutual TLS)", "[kafka][tls][mtls][refused]") {
  const std::string ns = unique_name("tls");
  SECTION("without one the broker refuses the handshake") {
    const std::string why =
        refusal(ssl_config(ns, {{"kafka.ssl.certificate.location", ""}, {"kafka.ssl.key.location", ""}}));
    INFO(why);
    CHECK_THAT(why, Catch::Contains("alert") && Catch::Contains("certificate"));
  }
  SECTION("a client certificate from another CA is refused") {
    const std::string why = refusal(ssl_config(ns, {{"kafka.ssl.certificate.location", tls_file("other-client.pem")},
                                                    {"kafka.ssl.key.location", tls_file("other-client.key")}}));
    INFO(why);
    CHECK_THAT(why, Catch::Contains("alert") && Catch::Contains("certificate"));
  }
}
