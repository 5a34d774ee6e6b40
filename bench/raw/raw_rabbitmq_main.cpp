// Stand-alone check of the raw rabbitmq-c baseline: publishes N CloudEvents-shaped
// bodies of about 400 bytes, consumes them back and prints both rates.
//
//   g++ -std=c++20 -O2 -Wall -Wextra -o raw_rabbitmq bench/raw/raw_rabbitmq.cpp
//       bench/raw/raw_rabbitmq_main.cpp -lrabbitmq      (one command line)
//   scripts/brokers/rabbitmq start
//   ./raw_rabbitmq [count=50000] [rounds=1]
//
// Port from HERALD_RABBITMQ_PORT (default 5672).
#include "raw_rabbitmq.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <vector>

namespace {

struct Workload {
  std::vector<std::string> bodies, routing_keys, ids;
};

Workload make_workload(std::size_t count, std::size_t body_size) {
  static const char* const kTypes[] = {"order.created", "order.paid", "order.shipped"};
  std::mt19937_64 rng(42);
  Workload w;
  w.bodies.reserve(count);
  w.routing_keys.reserve(count);
  w.ids.reserve(count);
  char id[64];
  for (std::size_t i = 0; i < count; ++i) {
    const char* type = kTypes[i % 3];
    std::snprintf(id, sizeof id, "%016llx-%08zx", static_cast<unsigned long long>(rng()), i);
    std::string body = std::string("{\"specversion\":\"1.0\",\"id\":\"") + id +
                       "\",\"source\":\"/bench/raw\",\"type\":\"" + type +
                       "\",\"time\":\"2024-01-01T00:00:00Z\",\"datacontenttype\":\"application/json\","
                       "\"subject\":\"order-" + std::to_string(i) + "\",\"data\":{\"order_id\":" +
                       std::to_string(i) + ",\"note\":\"";
    const std::size_t tail = 3;  // "\"}}"
    if (body.size() + tail < body_size) body.append(body_size - body.size() - tail, 'x');
    body += "\"}}";
    w.bodies.push_back(std::move(body));
    w.routing_keys.emplace_back(type);
    w.ids.emplace_back(id);
  }
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace herald::bench;
  const std::size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 1;

  RawRabbitConfig cfg;
  if (const char* port = std::getenv("HERALD_RABBITMQ_PORT")) cfg.port = std::atoi(port);

  const Workload w = make_workload(count, 400);
  std::size_t bytes = 0;
  for (const auto& b : w.bodies) bytes += b.size();
  std::printf("raw rabbitmq-c: %zu messages, avg body %zu bytes, 127.0.0.1:%d, confirm_window %d, "
              "prefetch %d, ack_batch %d\n",
              count, count ? bytes / count : 0, cfg.port, cfg.confirm_window, cfg.prefetch, cfg.ack_batch);

  try {
    for (int r = 1; r <= rounds; ++r) {
      raw_rabbitmq_prepare(cfg);
      const RawRate pub = raw_rabbitmq_publish(cfg, w.bodies, w.routing_keys, w.ids);
      const RawRate sub = raw_rabbitmq_consume(cfg, count);
      std::printf("round %d: publish %zu in %.3f s = %.0f msg/s (%.1f MB/s) | consume %zu in %.3f s = %.0f msg/s\n",
                  r, pub.messages, pub.seconds, pub.per_second(),
                  pub.seconds > 0 ? static_cast<double>(bytes) / pub.seconds / 1e6 : 0.0, sub.messages, sub.seconds,
                  sub.per_second());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
