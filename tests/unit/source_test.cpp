// The bus's configured source (BusConfig::source, HERALD_SOURCE) reaches the
// events built the documented way, and an event's own source is kept.

#include <catch2/catch.hpp>

#include <cstdlib>

#include "herald/config.hpp"
#include "herald/lifecycle.hpp"
#include "herald/typed.hpp"

using namespace herald;

namespace {

struct InvoiceSent {
  static constexpr std::string_view event_type = "invoice.sent";
  static constexpr int event_version = 1;
  std::string invoice_id;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(InvoiceSent, invoice_id)
};

std::unique_ptr<EventBus> bus_with_source(std::string source) {
  BusConfig config = BusConfig::from_url("memory://?dispatch=inline");
  config.source = std::move(source);
  return make_bus(config);
}

// The sources of what `publish` puts on `bus`, in order.
template <class Publish>
std::vector<std::string> sources_of(EventBus& bus, Publish&& publish) {
  std::vector<std::string> seen;
  auto sub = bus.subscribe({.pattern = "#", .group = "audit"}, [&](const Envelope& e) { seen.push_back(e.source); });
  publish();
  REQUIRE(bus.flush(std::chrono::seconds(5)));
  return seen;
}

}  // namespace

TEST_CASE("Envelope::make leaves the source to the bus", "[source][envelope]") {
  CHECK(Envelope::make("order.created", {{"order_id", "42"}}).source.empty());
  CHECK(Envelope::make("order.created", nullptr, "/billing").source == "/billing");
}

TEST_CASE("a bus configured with a source stamps it on events built with Envelope::make", "[source][memory]") {
  auto bus = bus_with_source("/orders");
  auto seen = sources_of(*bus, [&] {
    bus->publish(Envelope::make("order.created", {{"order_id", "42"}}));           // by value
    Envelope e = Envelope::make("order.paid", {{"order_id", "42"}});
    bus->publish(static_cast<const Envelope&>(e));                                  // by reference
    bus->publish(std::vector<Envelope>{Envelope::make("order.shipped", nullptr)});  // a batch
    herald::publish(*bus, InvoiceSent{"inv-1"});                                     // typed
    Lifecycle(*bus, {}).run("order", "cancel", {}, [] { return 0; });               // lifecycle
  });
  CHECK(seen == std::vector<std::string>(seen.size(), "/orders"));
  CHECK(seen.size() == 6);
}

TEST_CASE("an event's own source is kept whatever the bus's", "[source][memory]") {
  auto bus = bus_with_source("/orders");
  auto seen = sources_of(*bus, [&] {
    bus->publish(Envelope::make("order.created", nullptr, "/billing"));
    herald::publish(*bus, InvoiceSent{"inv-2"}, {.source = "/invoices"});
  });
  CHECK(seen == std::vector<std::string>{"/billing", "/invoices"});
}

TEST_CASE("HERALD_SOURCE configures the source of a bus from the environment", "[source][config]") {
  ::setenv("HERALD_SOURCE", "/from-env", 1);
  BusConfig config = BusConfig::from_env();
  ::unsetenv("HERALD_SOURCE");
  config.url = "memory://";
  config.options = {{"dispatch", "inline"}};
  auto bus = make_bus(config);
  auto seen = sources_of(*bus, [&] { bus->publish(Envelope::make("order.created")); });
  CHECK(seen == std::vector<std::string>{"/from-env"});
}

TEST_CASE("without a configured source events say herald", "[source][memory]") {
  auto bus = make_bus("memory://?dispatch=inline");
  auto seen = sources_of(*bus, [&] { bus->publish(Envelope::make("order.created")); });
  CHECK(seen == std::vector<std::string>{"herald"});
}
