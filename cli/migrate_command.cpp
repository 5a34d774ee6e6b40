// herald migrate: the verbs of a migration between transports (docs/migration.md).

#include "commands.hpp"

namespace herald::cli {

void add_migrate_commands(CLI::App& app) {
  auto* migrate = app.add_subcommand(
      "migrate", "Move event families between transports: status of a cut-over, shadow verification");
  migrate->require_subcommand(1);
  add_migrate_status(*migrate);
  add_migrate_verify(*migrate);
}

}  // namespace herald::cli
