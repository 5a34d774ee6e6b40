#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// The message of what `make` throws, checked to be of type E.
template <class E, class F>
std::string error_of(F&& make) {
  try {
    make();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception of the right type");
  return {};
}

}  // namespace

TEST_CASE("an unknown option is refused by name", "[rabbitmq][config]") {
  BusConfig c = isolated_config(unique_name("cfg"));
  c.options["prefech_multiplier"] = "8";
  CHECK_THROWS_WITH(make_bus(c), Catch::Contains("prefech_multiplier") && Catch::Contains("unknown option"));
}

TEST_CASE("a bad option value names the option and what it accepts", "[rabbitmq][config]") {
  SECTION("a choice") {
    BusConfig c = isolated_config(unique_name("cfg"), {{"queue_type", "lazy"}});
    CHECK_THROWS_WITH(make_bus(c), Catch::Contains("queue_type") && Catch::Contains("classic, quorum"));
  }
  SECTION("a number out of range") {
    BusConfig c = isolated_config(unique_name("cfg"), {{"confirm_window", "0"}});
    CHECK_THROWS_WITH(make_bus(c), Catch::Contains("confirm_window"));
  }
  SECTION("a reserved exchange name") {
    BusConfig c = isolated_config(unique_name("cfg"), {{"exchange", "amq.topic"}});
    CHECK_THROWS_WITH(make_bus(c), Catch::Contains("reserved"));
  }
}

TEST_CASE("a malformed URL is refused without its password", "[rabbitmq][config][secrets]") {
  std::string what = error_of<ConfigError>([] { make_bus("amqp://guest:hunter2-secret@127.0.0.1:notaport/"); });
  CHECK_THAT(what, Catch::Contains("bad port"));
  CHECK_THAT(what, !Catch::Contains("hunter2-secret"));
}

TEST_CASE("a refused login names the user and vhost but never the password", "[rabbitmq][config][secrets]") {
  BusConfig c = isolated_config(unique_name("cfg"));
  Url u = Url::parse(amqp_url());
  c.url = "amqp://" + u.user + ":wrong-secret-42@" + u.host + ":" + std::to_string(u.port ? u.port : 5672) + "/";
  std::string what = error_of<ConfigError>([&] { make_bus(c); });
  CHECK_THAT(what, Catch::Contains("'" + u.user + "'"));
  CHECK_THAT(what, Catch::Contains("***"));
  CHECK_THAT(what, !Catch::Contains("wrong-secret-42"));
}

TEST_CASE("an unreachable broker fails make_bus with a transport error without the password",
          "[rabbitmq][config][secrets]") {
  BusConfig c = isolated_config(unique_name("cfg"), {{"connect_timeout", "2s"}});
  c.url = "amqp://guest:hidden-pw-7@127.0.0.1:1/";
  std::string what = error_of<TransportError>([&] { make_bus(c); });
  CHECK_THAT(what, Catch::Contains("127.0.0.1:1"));
  CHECK_THAT(what, !Catch::Contains("hidden-pw-7"));
}

TEST_CASE("TLS options are checked when the bus is built", "[rabbitmq][config][tls]") {
  const std::string ns = unique_name("tls");
  Url u = Url::parse(amqp_url());
  const std::string tls_url = "amqps://" + u.user + ":tls-secret-9@" + u.host + ":" + std::to_string(u.port ? u.port : 5672) + "/";
  auto amqps = [&](std::map<std::string, std::string> options) {
    BusConfig c = isolated_config(ns, options);
    c.url = tls_url;
    return c;
  };
  SECTION("tls options need an amqps:// URL") {
    CHECK_THROWS_WITH(make_bus(isolated_config(ns, {{"tls_ca", "/etc/ssl/certs/ca-certificates.crt"}})),
                      Catch::Contains("amqps://"));
  }
  SECTION("peer verification is on by default and needs a CA bundle") {
    CHECK_THROWS_WITH(make_bus(amqps({})), Catch::Contains("tls_ca") && Catch::Contains("tls_verify=false"));
  }
  SECTION("a CA bundle that cannot be read is named") {
    CHECK_THROWS_WITH(make_bus(amqps({{"tls_ca", "/nonexistent/ca.pem"}})), Catch::Contains("/nonexistent/ca.pem"));
  }
  SECTION("a client certificate needs its key") {
    CHECK_THROWS_WITH(make_bus(amqps({{"tls_verify", "false"}, {"tls_cert", "/etc/hostname"}})),
                      Catch::Contains("tls_key"));
  }
  SECTION("tls_verify is a boolean") {
    CHECK_THROWS_WITH(make_bus(amqps({{"tls_verify", "maybe"}})), Catch::Contains("tls_verify"));
  }
  SECTION("a TLS handshake with a plain AMQP port fails as a transport error without the password") {
    std::string what =
        error_of<TransportError>([&] { make_bus(amqps({{"tls_verify", "false"}, {"connect_timeout", "3s"}})); });
    CHECK_THAT(what, Catch::Contains("amqps://"));
    CHECK_THAT(what, !Catch::Contains("tls-secret-9"));
  }
}
