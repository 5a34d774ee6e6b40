// The service dashboard_test.py drives a browser against: an outbox (SQLite)
// in front of the memory transport, with the admin endpoint beside it.
//   mailer   handles order.* and succeeds (a steady trickle of orders)
//   billing  handles payment.*: a capture fails its first two runs (dead
//            letter, max_attempts) and succeeds when replayed; a refund is
//            refused for good (non_retriable) with markup in the error text
// Prints "listening on http://127.0.0.1:<port>/" and "ready", then serves
// until its standard input closes.
//
//   dashboard_service --store sqlite:///tmp/x.db [--token T] [--listen 127.0.0.1:0]

#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/outbox.hpp"
#include "wait.hpp"

using namespace std::chrono_literals;

namespace {

herald::Envelope event_of(const std::string& type, const std::string& aggregate_type, const std::string& id,
                          const nlohmann::json& payload) {
  herald::Envelope e = herald::Envelope::make(type, payload, "dashboard-test");
  e.aggregatetype = aggregate_type;
  e.aggregateid = id;
  e.partitionkey = id;
  return e;
}

int run(int argc, char** argv) {
  std::string store, listen = "127.0.0.1:0";
  std::optional<std::string> token;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--store") == 0) store = argv[i + 1];
    else if (std::strcmp(argv[i], "--token") == 0) token = argv[i + 1];
    else if (std::strcmp(argv[i], "--listen") == 0) listen = argv[i + 1];
  }
  if (store.empty()) throw herald::ConfigError("dashboard_service: --store URL is required");

  auto bus = herald::make_outbox_bus(herald::BusConfig::from_url("memory://"), store);
  std::mutex runs_mutex;
  std::map<std::string, int> runs;  // billing's runs per event id
  auto mailer = bus->subscribe({.pattern = "order.*", .group = "mailer"}, [](const herald::Envelope&) {});
  auto billing = bus->subscribe(
      {.pattern = "payment.*", .group = "billing", .retry = {.max_attempts = 2, .initial_delay = 5ms, .jitter = 0}},
      [&](const herald::Envelope& e) {
        int run = 0;
        {
          std::lock_guard lock(runs_mutex);
          run = ++runs[e.id];
        }
        if (e.type == "payment.refunded")
          throw herald::ConfigError("refunds are closed <img src=x onerror=\"document.title='owned'\">");
        if (run <= 2) throw std::runtime_error("card processor timed out (run " + std::to_string(run) + ")");
        std::cout << "billing handled " << e.id << std::endl;
      });

  auto admin = herald::admin::start(*bus, {.listen = listen, .token = token.value_or("")});
  std::cout << "listening on http://127.0.0.1:" << admin->port() << "/" << std::endl;

  for (int i = 1; i <= 3; ++i)
    bus->publish(event_of("payment.captured", "payment", "p-" + std::to_string(i), {{"amount", 10 * i}}));
  bus->publish(event_of("payment.refunded", "payment", "p-1", {{"amount", 10}, {"note", "<script>alert(1)</script>"}}));
  for (const char* type : {"order.created", "order.paid", "order.shipped"})
    bus->publish(event_of(type, "order", "42", {{"order_id", "42"}, {"customer", "alice"}}));
  if (!bus->flush(30s)) throw std::runtime_error("dashboard_service: the outbox did not drain");
  if (!herald::test::wait_until([&] { return bus->dead_letters("billing").size() == 4; }, 30s))
    throw std::runtime_error("dashboard_service: billing did not dead-letter its four payments");
  std::cout << "ready" << std::endl;

  // A steady trickle for mailer, so throughput moves while the page polls.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int n = 0; !stop; ++n) {
      try {
        bus->publish(event_of("order.created", "order", std::to_string(100 + n % 7), {{"n", n}}));
      } catch (const std::exception& e) {
        std::cerr << "dashboard_service: publish failed: " << e.what() << std::endl;
      }
      std::this_thread::sleep_for(100ms);  // load, not synchronisation
    }
  });
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  stop = true;
  trickle.join();
  admin->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "dashboard_service: " << e.what() << std::endl;
    return 1;
  }
}
