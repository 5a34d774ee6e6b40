// The event catalog's cost: publish on memory with and without schema
// validation (order.created v2 from schemas/events, checked at publish and on
// receipt), and the catalog's check alone.
//   bench_catalog [events]

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "stats.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

Envelope typical(int i) {
  Envelope e = Envelope::make("order.created",
                              {{"order_id", "ord-" + std::to_string(i)}, {"customer", "c-7781"}, {"total", 129.95},
                               {"currency", "EUR"}, {"items", {"sku-1", "sku-2"}}},
                              "orders-service");
  e.partitionkey = "ord-" + std::to_string(i % 64);
  e.dataversion = 2;
  return e;
}

// Events per second from publish to handled, best of 3 rounds.
double round_trip(const std::shared_ptr<const Catalog>& catalog, int n) {
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    BusConfig c = BusConfig::from_url("memory://?workers=2");
    c.decode.catalog = catalog;
    auto bus = make_bus(c);
    std::atomic<int> handled{0};
    auto sub = bus->subscribe({.pattern = "order.#", .group = "bench"}, [&](const Envelope&) { ++handled; });
    std::vector<Envelope> events;
    events.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) events.push_back(typical(i));
    auto start = SteadyClock::now();
    for (auto& e : events) bus->publish(std::move(e));
    if (!bus->flush(std::chrono::seconds(120))) std::abort();
    best = std::max(best, n / seconds_since(start));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100'000;
  bench_name() = "catalog";
  auto catalog = std::make_shared<const Catalog>(Catalog::load(std::string(HERALD_SOURCE_DIR) + "/schemas/events"));
  std::printf("catalog: %d order.created v2 events on memory (2 workers), best of 3\n", n);

  const double plain = round_trip(nullptr, n);
  const double checked = round_trip(catalog, n);
  std::printf("  without a catalog      %12.0f events/s\n", plain);
  std::printf("  validated (publish+receipt) %7.0f events/s  (%.0f%% of plain)\n", checked, 100.0 * checked / plain);
  record_result("memory round trip with schema validation", "events/s", checked, plain, "the same without a catalog", 0);

  // The check alone: parse the data and run the compiled schema.
  const Envelope e = typical(1);
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    auto start = SteadyClock::now();
    std::size_t bad = 0;
    for (int i = 0; i < n; ++i) bad += catalog->violation(e).has_value();
    if (bad) std::abort();
    best = std::max(best, n / seconds_since(start));
  }
  std::printf("  Catalog::violation alone %10.0f checks/s (%.2f us each)\n", best, 1e6 / best);
  record_result("Catalog::violation alone", "checks/s", best, 0, "", 0);
  return 0;
}
