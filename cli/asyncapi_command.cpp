// herald asyncapi: the AsyncAPI 3.0 document of a service, from its
// configuration and the event catalog (docs/catalog.md).

#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "herald/asyncapi.hpp"
#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"

namespace herald::cli {

namespace {

struct AsyncApiArgs {
  std::string config, schemas, output, format, title, version = "1.0.0";
  std::vector<std::string> groups;
};

// NAME or NAME=PATTERN (pattern `#` when not given).
AsyncApiGroup group_from(const std::string& text) {
  const auto eq = text.find('=');
  AsyncApiGroup group{.name = text.substr(0, eq)};
  if (eq != std::string::npos) group.pattern = text.substr(eq + 1);
  if (group.name.empty() || group.pattern.empty())
    throw UsageError("--group '" + text + "': expected NAME or NAME=PATTERN (billing=order.#)");
  return group;
}

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void run(const AsyncApiArgs& args) {
  // The file, else what the environment configures (HERALD_CONFIG, HERALD_URL, HERALD_ROUTE_*…).
  BusConfig config = args.config.empty() ? BusConfig::from_env() : BusConfig::from_file(args.config);
  std::shared_ptr<const Catalog> catalog = config.decode.catalog;
  if (!args.schemas.empty()) {
    catalog = std::make_shared<const Catalog>(Catalog::load(args.schemas));
  } else if (!catalog) {
    if (const char* dir = std::getenv("HERALD_SCHEMAS"); dir && *dir) catalog = std::make_shared<const Catalog>(Catalog::load(dir));
  }
  if (!catalog)
    throw UsageError("no catalog: give --schemas DIR, \"schemas\" in the configuration, or HERALD_SCHEMAS");

  AsyncApiOptions options{.title = args.title, .version = args.version};
  for (const auto& text : args.groups) options.groups.push_back(group_from(text));
  const nlohmann::ordered_json document = asyncapi_document(config, *catalog, options);

  std::string format = args.format;
  if (format.empty()) format = ends_with(args.output, ".yaml") || ends_with(args.output, ".yml") ? "yaml" : "json";
  const std::string text = format == "yaml" ? to_yaml(document) : document.dump(2) + "\n";
  if (args.output.empty() || args.output == "-") {
    std::cout << text;
    return;
  }
  std::ofstream out(args.output, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw UsageError("cannot write '" + args.output + "'");
  std::cerr << "herald: wrote " << args.output << " (AsyncAPI 3.0.0, " << document["channels"].size() << " channels, "
            << document["operations"].size() << " operations, " << document["components"]["messages"].size()
            << " messages)\n";
}

}  // namespace

void add_asyncapi_command(CLI::App& app) {
  auto args = std::make_shared<AsyncApiArgs>();
  auto* cmd = app.add_subcommand("asyncapi", "The AsyncAPI 3.0 document of a service: its transports, routes and the event catalog");
  cmd->add_option("--config", args->config, "The service's configuration file (default: HERALD_CONFIG or the HERALD_* variables)");
  cmd->add_option("--schemas", args->schemas, "Catalog folder (default: the configuration's \"schemas\", or HERALD_SCHEMAS)");
  cmd->add_option("--output,-o", args->output, "Write the document here (default: standard output)");
  cmd->add_option("--format", args->format, "json or yaml (default: yaml for an --output ending .yaml/.yml, else json)")
      ->check(CLI::IsMember({"json", "yaml"}));
  cmd->add_option("--group", args->groups,
                  "A consuming group of the service, NAME or NAME=PATTERN (repeatable): one receive operation per group "
                  "instead of one per event type");
  cmd->add_option("--title", args->title, "info.title (default: \"herald service <source>\")");
  cmd->add_option("--api-version", args->version, "info.version of the document (default 1.0.0)");
  cmd->callback([args] { run(*args); });
}

}  // namespace herald::cli
