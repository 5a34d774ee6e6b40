// herald: publish, tail and inspect events on any transport.

#include <iostream>

#include "commands.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/options.hpp"

namespace herald::cli {

std::unique_ptr<EventBus> open_bus(const std::string& url) {
  BusConfig config = BusConfig::from_env();
  if (!url.empty()) {
    BusConfig from_url = BusConfig::from_url(url);
    config.url = from_url.url;
    config.options = from_url.options;
    config.routes.clear();  // --url names the one transport
  }
  // The CLI talks to transports: a configured outbox is the service's
  // (`herald outbox relay` reads its store from it), never run from here.
  config.outbox.clear();
  config.source = config.source == "herald" ? "herald-cli" : config.source;
  return make_bus(config);
}

std::chrono::milliseconds duration_option(const std::string& text, const char* option) {
  if (auto d = parse_duration(text)) return *d;
  throw UsageError(std::string(option) + " '" + text + "' is not a duration (500ms, 90s, 10m, 2h)");
}

}  // namespace herald::cli

int main(int argc, char** argv) {
  CLI::App app{"herald: domain events on memory, RabbitMQ and Kafka.\n"
               "The transport comes from --url or HERALD_URL (memory://, amqp://, amqps://, kafka://),\n"
               "or a route table in HERALD_CONFIG=<file> (docs/configuration.md)."};
  app.require_subcommand(1);
  herald::cli::add_bus_commands(app);
  herald::cli::add_bench_command(app);
  herald::cli::add_migrate_commands(app);
  herald::cli::add_bridge_command(app);
  herald::cli::add_schema_command(app);
  herald::cli::add_asyncapi_command(app);
#ifdef HERALD_CLI_WITH_STORE
  herald::cli::add_store_commands(app);
  herald::cli::add_serve_command(app);
#endif
#ifdef HERALD_CLI_WITH_WEBHOOKS
  herald::cli::add_webhooks_command(app);
#ifdef HERALD_CLI_WITH_RUN
  herald::cli::add_run_command(app);
#endif
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const herald::ConfigError& e) {
    std::cerr << "herald: configuration error: " << e.what() << '\n';
    return 2;
  } catch (const herald::cli::UsageError& e) {
    std::cerr << "herald: " << e.what() << '\n';
    return 2;
  } catch (const herald::Error& e) {
    std::cerr << "herald: " << herald::to_string(e.code()) << " error: " << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "herald: error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
