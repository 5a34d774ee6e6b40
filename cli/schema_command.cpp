// herald schema list | show | validate: the event catalog (docs/catalog.md).

#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"

namespace herald::cli {

namespace {

// --schemas, else what the environment configures (HERALD_SCHEMAS, or the
// "schemas" key of HERALD_CONFIG's file).
std::shared_ptr<const Catalog> open_catalog(const std::string& dir) {
  if (!dir.empty()) return std::make_shared<const Catalog>(Catalog::load(dir));
  if (auto catalog = BusConfig::from_env().decode.catalog) return catalog;
  throw UsageError("no catalog: give --schemas DIR, or set HERALD_SCHEMAS (or \"schemas\" in HERALD_CONFIG's file)");
}

int version_or_latest(const Catalog& catalog, const std::string& type, int version) {
  if (version > 0) {
    if (!catalog.find(type, version))
      throw NotFoundError("the catalog has no schema for " + type + " v" + std::to_string(version));
    return version;
  }
  auto latest = catalog.latest(type);
  if (!latest) throw NotFoundError("the catalog has no schema for " + type);
  return *latest;
}

std::string versions_text(const std::vector<int>& versions) {
  std::string out;
  for (int v : versions) out += (out.empty() ? "v" : ", v") + std::to_string(v);
  return out;
}

}  // namespace

void add_schema_check(CLI::App& schema);  // schema_check.cpp

void add_schema_command(CLI::App& app) {
  auto* schema = app.add_subcommand("schema", "The event catalog: one JSON Schema per event type and version");
  schema->require_subcommand(1);
  struct Args {
    std::string dir, type, file;
    int version = 0;
  };
  auto args = std::make_shared<Args>();

  auto* list = schema->add_subcommand("list", "Every event type with its versions, latest and partition key");
  list->add_option("--schemas", args->dir, "Catalog folder (default: HERALD_SCHEMAS or the config's \"schemas\")");
  list->callback([args] {
    auto catalog = open_catalog(args->dir);
    for (const auto& type : catalog->types()) {
      const int latest = *catalog->latest(type);
      const Catalog::Entry* entry = catalog->find(type, latest);
      std::cout << type << "  " << versions_text(catalog->versions(type)) << "  latest=v" << latest;
      if (!entry->partition_key().empty()) std::cout << "  key=" << entry->partition_key();
      if (!entry->title().empty()) std::cout << "  " << entry->title();
      std::cout << '\n';
    }
  });

  auto* show = schema->add_subcommand("show", "Print the schema of a type (its latest version unless --version)");
  show->add_option("type", args->type, "Event type, e.g. order.created")->required();
  show->add_option("--version", args->version, "Data version")->check(CLI::PositiveNumber);
  show->add_option("--schemas", args->dir, "Catalog folder (default: HERALD_SCHEMAS or the config's \"schemas\")");
  show->callback([args] {
    auto catalog = open_catalog(args->dir);
    const int version = version_or_latest(*catalog, args->type, args->version);
    std::cout << catalog->find(args->type, version)->document.dump(2) << '\n';
  });

  auto* validate = schema->add_subcommand("validate", "Check a payload file against the schema of a type (exit 1 if it fails)");
  validate->add_option("type", args->type, "Event type, e.g. order.created")->required();
  validate->add_option("file", args->file, "JSON payload (the event's data), - for stdin")->required();
  validate->add_option("--version", args->version, "Data version (default: the latest)")->check(CLI::PositiveNumber);
  validate->add_option("--schemas", args->dir, "Catalog folder (default: HERALD_SCHEMAS or the config's \"schemas\")");
  validate->callback([args] {
    auto catalog = open_catalog(args->dir);
    const int version = version_or_latest(*catalog, args->type, args->version);
    std::stringstream text;
    if (args->file == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(args->file);
      if (!in) throw UsageError("cannot read '" + args->file + "'");
      text << in.rdbuf();
    }
    nlohmann::json data = nlohmann::json::parse(text.str(), nullptr, false);
    if (data.is_discarded()) throw UsageError("'" + args->file + "' is not valid JSON");
    catalog->check(args->type, version, data);  // SchemaError: exit 1 with the pointer and rule
    std::cout << "valid: " << args->type << " v" << version << '\n';
  });
  add_schema_check(*schema);
}

}  // namespace herald::cli
