// herald bench: a quick publish -> handler round on any transport, for a
// first look at a deployment. The real benchmarks (with their raw-client
// baselines) are in bench/.

#include <atomic>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "herald/errors.hpp"

namespace herald::cli {

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Publish N events and time them through to a handler");
  struct Args {
    std::string url, type = "herald.bench", group = "herald-bench";
    std::size_t count = 10'000, batch = 100, payload = 200;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--url", args->url, "Transport URL (default: HERALD_URL)");
  cmd->add_option("--count", args->count, "Events to publish")->capture_default_str();
  cmd->add_option("--batch", args->batch, "Events per publish call (pipelined)")->capture_default_str();
  cmd->add_option("--payload", args->payload, "Payload size in bytes")->capture_default_str();
  cmd->add_option("--type", args->type, "Event type to use")->capture_default_str();
  cmd->add_option("--group", args->group, "Consumer group to use")->capture_default_str();
  cmd->callback([args] {
    if (args->count == 0 || args->batch == 0) throw UsageError("--count and --batch must be positive");
    auto bus = open_bus(args->url);
    std::atomic<std::size_t> handled{0};
    auto sub = bus->subscribe({.pattern = args->type, .group = args->group, .concurrency = 16},
                              [&](const Envelope&) { handled.fetch_add(1); });
    nlohmann::json payload = {{"fill", std::string(args->payload, 'x')}};
    auto start = std::chrono::steady_clock::now();
    for (std::size_t sent = 0; sent < args->count;) {
      std::vector<Envelope> batch;
      for (std::size_t i = 0; i < args->batch && sent < args->count; ++i, ++sent) {
        batch.push_back(Envelope::make(args->type, payload, "herald-bench"));
        batch.back().partitionkey = "k" + std::to_string(sent % 64);
      }
      bus->publish(std::move(batch));
    }
    double published = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!bus->flush(std::chrono::seconds(120))) throw TimeoutError("bench: events not handled within 120 s");
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%zu events of %zu bytes on %s\n", args->count, args->payload, bus->features().name.c_str());
    std::printf("  publish (accepted): %10.0f events/s\n", static_cast<double>(args->count) / published);
    std::printf("  publish -> handled: %10.0f events/s (%zu handled)\n", static_cast<double>(args->count) / total,
                handled.load());
    sub.cancel();
    bus->close();
  });
}

}  // namespace herald::cli
