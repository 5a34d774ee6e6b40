// herald bridge: forward one transport's events to another until stopped.

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "herald/bridge.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/options.hpp"

namespace herald::cli {

namespace {

std::atomic<bool> stop_signalled{false};

std::string counts_line(const BridgeCounts& c) {
  return "forwarded=" + std::to_string(c.forwarded) + " skipped_loop=" + std::to_string(c.skipped_loop) +
         " refused=" + std::to_string(c.refused) + " failed=" + std::to_string(c.failed);
}

// Some transports connect on first use (Kafka): a destination that cannot be
// reached would only show as failed forwards. Subscribing for a moment, as
// a subscription of its own that leaves nothing behind, reaches it now.
void check_reachable(EventBus& to, const std::string& url, const std::string& pattern) {
  try {
    to.subscribe({.pattern = pattern, .group = "herald-bridge-check", .ephemeral = true}, [](const Envelope&) {})
        .cancel();
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    throw TransportError("bridge: cannot reach the destination " + redact_url(url) + ": " + e.what(), e.retriable());
  }
}

}  // namespace

void add_bridge_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bridge",
      "Forward events matching a pattern from one transport to another, at least once, ids and attributes kept,\n"
      "order per partition key kept, until Ctrl-C/SIGTERM (then it drains and exits 0). Each event carries the\n"
      "bridges it went through in its 'heraldvia' attribute, so two bridges in opposite directions never loop it.");
  struct Args {
    std::string from, to, pattern, group, name, from_name, to_name;
    std::string for_text, every_text = "10s", hold_text = "30s";
    std::uint64_t events = 0;
    int concurrency = 1;
    int max_hops = 4;
    bool from_beginning = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--from", args->from, "Source transport URL")->required();
  cmd->add_option("--to", args->to, "Destination transport URL")->required();
  cmd->add_option("--pattern", args->pattern, "Types to forward: order.#, payment.*, #")->required();
  cmd->add_option("--group", args->group,
                  "The bridge's consumer group on the source (a restarted bridge goes on where it stopped)")
      ->required();
  cmd->add_option("--name", args->name, "The bridge's name in heraldvia (default: the group)");
  cmd->add_option("--from-name", args->from_name,
                  "The source's name in heraldvia (default: its URL without credentials and tuning options); "
                  "give the same name to every bridge that touches it");
  cmd->add_option("--to-name", args->to_name, "The destination's name in heraldvia (as --from-name)");
  cmd->add_option("--concurrency", args->concurrency, "Events forwarded at once (order per key holds at any value)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-hops", args->max_hops, "Refuse (dead-letter) an event that went through this many bridges")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--hold", args->hold_text,
                  "How long a refused forward is retried in place (holding its key) before the source redelivers it")
      ->capture_default_str();
  cmd->add_flag("--from-beginning", args->from_beginning,
                "A new group also reads what the source still holds (Kafka), not only what arrives from now on");
  cmd->add_option("--for", args->for_text, "Stop by itself after this long (90s, 10m, 2h)");
  cmd->add_option("--events", args->events, "Stop by itself after forwarding this many events");
  cmd->add_option("--every", args->every_text, "Print the counts this often")->capture_default_str();
  cmd->callback([args] {
    const auto run_for =
        args->for_text.empty() ? std::chrono::milliseconds(0) : duration_option(args->for_text, "--for");
    const auto every = duration_option(args->every_text, "--every");
    const auto hold = duration_option(args->hold_text, "--hold");
    BridgeOptions options{.pattern = args->pattern,
                          .group = args->group,
                          .name = args->name,
                          .from_label = args->from_name.empty() ? bridge_transport_label(args->from) : args->from_name,
                          .to_label = args->to_name.empty() ? bridge_transport_label(args->to) : args->to_name,
                          .max_hops = args->max_hops,
                          .concurrency = args->concurrency,
                          .start = args->from_beginning ? StartFrom::earliest : StartFrom::latest,
                          .hold = hold};
    auto from = open_bus(args->from);
    auto to = open_bus(args->to);
    check_reachable(*to, args->to, args->pattern);
    std::signal(SIGINT, [](int) { stop_signalled = true; });
    std::signal(SIGTERM, [](int) { stop_signalled = true; });
    Bridge bridge(*from, *to, options);
    std::cout << "bridging " << args->pattern << " from " << redact_url(args->from) << " to " << redact_url(args->to)
              << " as group " << args->group << " (name " << bridge.options().name << "); Ctrl-C stops"
              << std::endl;

    const auto started = std::chrono::steady_clock::now();
    auto next_report = started + every;
    std::uint64_t reported_failed = 0;
    while (!stop_signalled) {
      const auto now = std::chrono::steady_clock::now();
      if (run_for.count() > 0 && now - started >= run_for) break;
      if (args->events > 0 && bridge.counts().forwarded >= args->events) break;
      if (every.count() > 0 && now >= next_report) {
        const auto counts = bridge.counts();
        std::cout << counts_line(counts);
        if (counts.failed > reported_failed) std::cout << " last_error=" << bridge.last_error();
        std::cout << std::endl;
        reported_failed = counts.failed;
        next_report = now + every;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a CLI poll loop, not test synchronisation
    }

    std::cout << "stopping: draining forwards in flight" << std::endl;
    const bool flushed = bridge.stop(std::chrono::seconds(30));
    std::cout << "stopped: " << counts_line(bridge.counts()) << std::endl;
    from->close();
    to->close();
    if (!flushed)
      throw TimeoutError("bridge: the destination " + redact_url(args->to) + " did not flush within 30s");
  });
}

}  // namespace herald::cli
