// The orders service as it runs through a migration (docs/migration.md):
// the same binary in every phase, only HERALD_CONFIG changes.
//
//   HERALD_CONFIG=examples/orders/migration/3-rabbitmq.json
//   orders_service --ledger /var/lib/orders/ledger.db [--rate 200] [--keys 50] [--hold]
//
// It publishes order.updated events (`--rate` per second over `--keys` order
// ids) and its billing and shipping groups apply them to the ledger. With
// --hold it subscribes but publishes only after SIGUSR1: in a rolling
// restart the new instance takes over publishing once the old one has left
// and the old target is drained. SIGTERM/SIGINT stop it gracefully: stop
// publishing, deliver and handle what was published, exit 0.

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "ledger.hpp"

namespace {

std::atomic<bool> stopping{false};
std::atomic<bool> go{false};

extern "C" void on_stop(int) { stopping = true; }
extern "C" void on_go(int) { go = true; }

struct Args {
  std::string ledger;
  int rate = 200;
  int keys = 50;
  bool hold = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw herald::ConfigError("orders_service: " + arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--ledger") a.ledger = value();
    else if (arg == "--rate") a.rate = std::stoi(value());
    else if (arg == "--keys") a.keys = std::stoi(value());
    else if (arg == "--hold") a.hold = true;
    else throw herald::ConfigError("orders_service: unknown argument '" + arg +
                                   "' (usage: orders_service --ledger FILE [--rate N] [--keys N] [--hold])");
  }
  if (a.ledger.empty()) throw herald::ConfigError("orders_service: --ledger FILE is required");
  if (a.rate < 1 || a.keys < 1) throw herald::ConfigError("orders_service: --rate and --keys must be positive");
  return a;
}

int run(int argc, char** argv) {
  Args args = parse(argc, argv);
  std::signal(SIGTERM, on_stop);
  std::signal(SIGINT, on_stop);
  std::signal(SIGUSR1, on_go);
  go = !args.hold;

  orders::Ledger ledger(args.ledger);
  herald::BusConfig config = herald::BusConfig::from_env();
  config.source = "orders-service";
  auto bus = herald::make_bus(config);

  std::atomic<long> applied{0}, duplicates{0};
  std::vector<herald::Subscription> subscriptions;
  for (std::string group : {"billing", "shipping"}) {
    subscriptions.push_back(bus->subscribe({.pattern = "order.#", .group = group}, [&, group](const herald::Envelope& e) {
      auto data = e.payload();
      if (ledger.apply(group, e.id, e.partitionkey, data.at("seq").get<std::int64_t>())) ++applied;
      else ++duplicates;
    }));
  }
  std::cout << "ready: " << bus->features().name << (args.hold ? ", holding until SIGUSR1" : "") << std::endl;

  long published = 0;
  const auto period = std::chrono::microseconds(1'000'000 / args.rate);
  auto next = std::chrono::steady_clock::now();
  auto report = next + std::chrono::seconds(1);
  std::int64_t seq = 0;
  bool publishing = false;
  while (!stopping) {
    if (!go) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (!publishing) {
      publishing = true;
      seq = ledger.next_seq();
      next = std::chrono::steady_clock::now();
      std::cout << "publishing from seq " << seq << std::endl;
    }
    const std::string key = std::to_string(seq % args.keys);
    herald::Envelope e = herald::Envelope::make("order.updated", {{"order_id", key}, {"seq", seq}});
    e.partitionkey = key;
    bus->publish(e);
    ledger.published(e.id, key, seq);
    ++seq;
    ++published;
    next += period;
    std::this_thread::sleep_until(next);
    if (std::chrono::steady_clock::now() >= report) {
      report += std::chrono::seconds(1);
      std::cout << "published " << published << ", applied " << applied << ", duplicates " << duplicates << std::endl;
    }
  }
  std::cout << "stopping: delivering and handling what was published" << std::endl;
  bool flushed = bus->flush(std::chrono::seconds(120));
  subscriptions.clear();
  bus->close();
  std::cout << "stopped: published " << published << ", applied " << applied << ", duplicates " << duplicates
            << (flushed ? "" : " (flush timed out)") << std::endl;
  return flushed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const herald::Error& e) {
    std::cerr << "orders_service: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "orders_service: " << e.what() << '\n';
    return 1;
  }
}
