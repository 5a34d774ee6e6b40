#pragma once
// The herald CLI's command groups; main.cpp adds those that were built.

#include <chrono>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "herald/bus.hpp"

namespace herald::cli {

/// publish, tail, dlq.
void add_bus_commands(CLI::App& app);
/// outbox, events, replay (needs an event store adapter).
void add_store_commands(CLI::App& app);
/// bench: a quick publish -> handler round on any transport.
void add_bench_command(CLI::App& app);
/// schema list | show | validate: the event catalog.
void add_schema_command(CLI::App& app);
/// asyncapi: the AsyncAPI 3.0 document of a service (asyncapi_command.cpp).
void add_asyncapi_command(CLI::App& app);
/// serve: the HTTP admin.
void add_serve_command(CLI::App& app);
/// webhooks list | status | test (webhooks_command.cpp).
void add_webhooks_command(CLI::App& app);
/// run: relay, webhooks and admin endpoint of a config file, reloaded on SIGHUP.
void add_run_command(CLI::App& app);
/// migrate: the parent of the migration verbs (migrate_command.cpp).
void add_migrate_commands(CLI::App& app);
/// migrate status: per route, target and group, what is left to drain.
void add_migrate_status(CLI::App& migrate);
/// bridge: forward events from one transport to another.
void add_bridge_command(CLI::App& app);
/// migrate verify: shadow verification of a route's two targets.
void add_migrate_verify(CLI::App& migrate);

/// The bus for `url`, or the configuration from the environment (HERALD_URL,
/// HERALD_CONFIG, HERALD_ROUTE_*…) when `url` is empty; never its outbox.
std::unique_ptr<EventBus> open_bus(const std::string& url);

/// Thrown for a user mistake the CLI reports without a stack of context.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A duration flag's value ("500ms", "90s", "10m", "2h"; a bare number is
/// milliseconds, as in URL options); UsageError naming `option` otherwise.
std::chrono::milliseconds duration_option(const std::string& text, const char* option);

}  // namespace herald::cli
