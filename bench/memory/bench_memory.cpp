// Memory transport: publish -> handler throughput and latency, inline and
// async, with a wildcard subscription (order.*) and a small payload, beside
// Node's EventEmitter2 doing the same in the same run.
//   bench_memory [events]
// Goals: inline >= 3x EventEmitter2's wildcard emit; async >= 1.5x its
// awaited emitAsync.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "herald/config.hpp"
#include "stats.hpp"
#include "tracing_note.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

struct Result {
  double per_second = 0;
  double p50_us = 0, p99_us = 0;
};

Envelope sample_event() {
  return Envelope::make("order.created", {{"orderId", "o-42"}, {"amount", 99.5}, {"currency", "EUR"}}, "bench");
}

Result run_inline(std::size_t n) {
  auto bus = make_bus("memory://?dispatch=inline");
  std::size_t handled = 0;
  SteadyClock::time_point sent;
  std::vector<double> latency;
  latency.reserve(n / 16 + 1);
  bool sample = false;
  auto sub = bus->subscribe({.pattern = "order.*", .group = "bench"}, [&](const Envelope&) {
    ++handled;
    if (sample) latency.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - sent).count());
  });
  const Envelope e = sample_event();
  for (std::size_t i = 0; i < n / 10; ++i) bus->publish(e);  // warm-up
  handled = 0;
  auto start = SteadyClock::now();
  for (std::size_t i = 0; i < n; ++i) {
    sample = (i % 16) == 0;
    if (sample) sent = SteadyClock::now();
    bus->publish(e);
  }
  double secs = seconds_since(start);
  if (handled != n) throw std::runtime_error("inline: handled " + std::to_string(handled) + " of " + std::to_string(n));
  return {n / secs, percentile_us(latency, 50), percentile_us(latency, 99)};
}

// Throughput: publish n events as fast as publish accepts them, until all
// are handled. Latency: a separate pass publishing one event at a time and
// waiting for its handler (the round trip EventEmitter2's awaited emitAsync
// measures), so a full queue does not count as latency.
Result run_async(std::size_t n, int workers) {
  auto bus = make_bus("memory://?workers=" + std::to_string(workers) + "&queue_limit=100000");
  std::atomic<std::size_t> handled{0};
  auto sub = bus->subscribe({.pattern = "order.*", .group = "bench"},
                            [&](const Envelope&) { handled.fetch_add(1, std::memory_order_release); });
  const Envelope e = sample_event();
  auto start = SteadyClock::now();
  for (std::size_t i = 0; i < n; ++i) bus->publish(e);
  if (!bus->flush(std::chrono::seconds(120))) throw std::runtime_error("async: not drained in 120 s");
  double secs = seconds_since(start);
  if (handled != n) throw std::runtime_error("async: handled " + std::to_string(handled.load()) + " of " + std::to_string(n));

  std::size_t rounds = std::max<std::size_t>(1000, n / 20);
  std::vector<double> latency;
  latency.reserve(rounds);
  for (std::size_t i = 0; i < rounds; ++i) {
    std::size_t target = handled.load() + 1;
    auto t0 = SteadyClock::now();
    bus->publish(e);
    while (handled.load(std::memory_order_acquire) < target) {
    }
    latency.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
  }
  return {n / secs, percentile_us(latency, 50), percentile_us(latency, 99)};
}

nlohmann::json run_node(std::size_t n) {
  std::string dir = std::string(HERALD_SOURCE_DIR) + "/bench/node";
  std::string cmd = "cd '" + dir + "' && node ee2_bench.js " + std::to_string(n);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot start node");
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int rc = pclose(p);
  if (rc != 0)
    throw std::runtime_error("the EventEmitter2 baseline failed (" + cmd +
                             "); run scripts/bench, which installs it with npm ci");
  return nlohmann::json::parse(out);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  bench_name() = "memory";
  try {
    std::printf("memory transport vs EventEmitter2, %zu events, pattern order.*, small payload\n", n);
    nlohmann::json node = run_node(n);
    print_tracing("start");
    Result inl = run_inline(n);
    Result async1 = run_async(n, 1);
    Result async2 = run_async(n, 2);
    std::printf("  herald inline:        %12.0f events/s  p50 %6.2f us  p99 %6.2f us\n", inl.per_second, inl.p50_us, inl.p99_us);
    std::printf("  (async latency: publish of one event to its handler, one at a time)\n");
    std::printf("  herald async (1 wkr): %12.0f events/s  p50 %6.2f us  p99 %6.2f us\n", async1.per_second, async1.p50_us, async1.p99_us);
    std::printf("  herald async (2 wkr): %12.0f events/s  p50 %6.2f us  p99 %6.2f us\n", async2.per_second, async2.p50_us, async2.p99_us);
    std::printf("  ee2 wildcard emit:    %12.0f events/s  p50 %6.2f us  p99 %6.2f us\n", node["wildcard_emit_per_s"].get<double>(),
                node["wildcard_emit_p50_us"].get<double>(), node["wildcard_emit_p99_us"].get<double>());
    std::printf("  ee2 emitAsync awaited:%12.0f events/s  p50 %6.2f us  p99 %6.2f us (round trip)\n",
                node["emit_async_awaited_per_s"].get<double>(), node.value("emit_async_roundtrip_p50_us", 0.0),
                node.value("emit_async_roundtrip_p99_us", 0.0));
    if (node.contains("emit_async_pipelined_per_s"))
      std::printf("  ee2 emitAsync x256:   %12.0f events/s\n", node["emit_async_pipelined_per_s"].get<double>());
    double best_async = std::max(async1.per_second, async2.per_second);
    print_ratio("inline vs ee2 wildcard emit", inl.per_second, node["wildcard_emit_per_s"].get<double>(), 3.0,
                "EventEmitter2 wildcard emit");
    print_ratio("async vs ee2 awaited emitAsync", best_async, node["emit_async_awaited_per_s"].get<double>(), 2.5,
                "EventEmitter2 awaited emitAsync");
    record_result("async events/s (best of 1 and 2 workers)", "events/s", best_async, 0, "", 5'000'000);
    record_result("async hand-off p99 (1 worker)", "us", async1.p99_us, 0, "", 10, true);
    record_result("async hand-off p99 (2 workers)", "us", async2.p99_us, 0, "", 10, true);
    record_result("inline p99", "us", inl.p99_us, 0, "", 0, true);
    print_tracing("end");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_memory: %s\n", e.what());
    return 1;
  }
  return 0;
}
