// herald serve: the HTTP admin (events, health, metrics), optionally with a relay.

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/relay.hpp"

namespace herald::cli {

namespace {

std::atomic<bool> serve_stop{false};

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve",
                                 "HTTP admin (herald::admin): /metrics, /healthz, /readyz, /v1/events, "
                                 "/v1/dead-letters with --relay (Ctrl-C stops)");
  struct Args {
    std::string store, url, bind = "127.0.0.1";
    std::uint16_t port = 8080;
    bool relay = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--store", args->store, "Event store URL (default: HERALD_STORE_URL)");
  cmd->add_option("--bind", args->bind,
                  "Address to listen on (reads need no token; HERALD_ADMIN_TOKEN guards replay and purge)")
      ->capture_default_str();
  cmd->add_option("--port", args->port, "TCP port (0: any free port)")->capture_default_str();
  cmd->add_flag("--relay", args->relay, "Also run the outbox relay to the transport (--url or HERALD_URL)");
  cmd->add_option("--url", args->url, "Transport URL for --relay (default: HERALD_URL)");
  cmd->callback([args] {
    std::string store_url = args->store.empty() ? store_url_from_env() : args->store;
    if (store_url.empty()) throw UsageError("no event store: pass --store URL or set HERALD_STORE_URL");
    if (!args->url.empty() && !args->relay) throw UsageError("--url is for --relay: pass both, or neither");
    auto store = open_event_store(store_url);

    std::unique_ptr<EventBus> bus;
    std::unique_ptr<Relay> relay;
    if (args->relay) {
      BusConfig config = BusConfig::from_env();
      if (!args->url.empty()) {
        BusConfig from_url = BusConfig::from_url(args->url);
        config.url = from_url.url;
        config.options = from_url.options;
        config.routes.clear();
      }
      config.source = config.source == "herald" ? "herald-cli" : config.source;
      config.outbox.clear();  // the relay delivers to the transport, never back into a store
      bus = make_bus(config);
      RelayOptions options = RelayOptions::from_env();
      options.on_error = [](const std::string& error) { std::cerr << "relay: store error: " << error << '\n'; };
      relay = std::make_unique<Relay>(*store, *bus, options);
    }
    bool v6 = args->bind.find(':') != std::string::npos;
    admin::Options admin_options{.listen = (v6 ? "[" + args->bind + "]" : args->bind) + ":" + std::to_string(args->port),
                                 .store = store};
    admin_options.max_connections = 128;  // herald serve's documented bounds (docs/outbox.md)
    admin_options.max_body_bytes = 64 * 1024;
    admin_options.on_error = [](const std::string& error) { std::cerr << "serve: " << error << std::endl; };
    // The relay's bus: its metrics on /metrics, its dead letters on /v1/dead-letters.
    auto server = bus ? admin::start(*bus, std::move(admin_options)) : admin::start(std::move(admin_options));
    std::signal(SIGINT, [](int) { serve_stop = true; });
    std::signal(SIGTERM, [](int) { serve_stop = true; });
    std::cout << "serving " << store->describe() << " on http://" << args->bind << ":" << server->port()
              << (relay ? " with a relay to " + bus->features().name : std::string()) << std::endl;
    while (!serve_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a CLI poll loop
    server->stop();
    if (relay) relay->stop();
    if (bus) bus->close();
  });
}

}  // namespace herald::cli
