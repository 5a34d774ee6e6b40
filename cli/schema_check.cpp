// herald schema check: compatibility between the versions of each event type
// (docs/catalog.md, "Compatibility"). Only what the schemas' top-level
// object says is compared; what JSON Schema cannot prove is listed there.

#include <iostream>
#include <set>

#include "commands.hpp"
#include "herald/catalog.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"

namespace herald::cli {

namespace {

std::set<std::string> types_of(const nlohmann::json& property) {
  std::set<std::string> out;
  auto t = property.find("type");
  if (t == property.end()) return out;  // any type
  if (t->is_string()) out.insert(t->get<std::string>());
  else if (t->is_array())
    for (const auto& one : *t)
      if (one.is_string()) out.insert(one.get<std::string>());
  return out;
}

// Whether every value `from` allows is allowed by `to` (empty: any type).
bool accepts_all(const std::set<std::string>& to, const std::set<std::string>& from) {
  if (to.empty()) return true;
  if (from.empty()) return false;
  for (const auto& t : from)
    if (!to.count(t) && !(t == "integer" && to.count("number"))) return false;
  return true;
}

std::set<std::string> required_of(const nlohmann::json& schema) {
  std::set<std::string> out;
  if (auto r = schema.find("required"); r != schema.end() && r->is_array())
    for (const auto& name : *r)
      if (name.is_string()) out.insert(name.get<std::string>());
  return out;
}

const nlohmann::json& properties_of(const nlohmann::json& schema) {
  static const nlohmann::json none = nlohmann::json::object();
  auto p = schema.find("properties");
  return p != schema.end() && p->is_object() ? *p : none;
}

bool closed(const nlohmann::json& schema) {
  auto a = schema.find("additionalProperties");
  return a != schema.end() && a->is_boolean() && !a->get<bool>();
}

// Problems when data valid under `writer` is read by a reader holding `reader`.
std::vector<std::string> read_problems(const nlohmann::json& writer, const nlohmann::json& reader) {
  std::vector<std::string> out;
  const auto writer_required = required_of(writer);
  for (const auto& name : required_of(reader))
    if (!writer_required.count(name)) out.push_back("'" + name + "' is required by the reader but not by the writer");
  const auto& wp = properties_of(writer);
  const auto& rp = properties_of(reader);
  for (const auto& [name, w] : wp.items()) {
    auto r = rp.find(name);
    if (r == rp.end()) {
      if (closed(reader)) out.push_back("'" + name + "' may be written but the reader's content model is closed");
      continue;
    }
    if (!accepts_all(types_of(*r), types_of(w))) out.push_back("'" + name + "' has a narrower type for the reader");
  }
  return out;
}

}  // namespace

void add_schema_check(CLI::App& schema) {
  auto* check = schema.add_subcommand("check", "Check that each type's versions are compatible (exit 1 if not)");
  struct Args {
    std::string dir, mode = "backward";
  };
  auto args = std::make_shared<Args>();
  check->add_option("--mode", args->mode, "backward, forward, full, or one of them -transitive")
      ->check(CLI::IsMember({"backward", "forward", "full", "backward-transitive", "forward-transitive",
                             "full-transitive"}));
  check->add_option("--schemas", args->dir, "Catalog folder (default: HERALD_SCHEMAS or the config's \"schemas\")");
  check->callback([args] {
    Catalog catalog = args->dir.empty() ? Catalog() : Catalog::load(args->dir);
    std::shared_ptr<const Catalog> configured;
    const Catalog* c = &catalog;
    if (args->dir.empty()) {
      configured = BusConfig::from_env().decode.catalog;
      if (!configured) throw UsageError("no catalog: give --schemas DIR, or set HERALD_SCHEMAS");
      c = configured.get();
    }
    const bool transitive = args->mode.ends_with("-transitive");
    const std::string mode = args->mode.substr(0, args->mode.find('-'));
    int failures = 0;
    for (const auto& type : c->types()) {
      const auto versions = c->versions(type);
      for (std::size_t j = 1; j < versions.size(); ++j) {
        const auto& newer = c->find(type, versions[j])->document;
        const std::string now = type + " v" + std::to_string(versions[j]);
        auto up = newer.find("x-upcast-from");
        const bool upcast = up != newer.end() && up->is_number_integer() && up->get<int>() == versions[j - 1];
        if (!upcast)
          std::cout << "note: " << now << " declares no upcaster from v" << versions[j - 1] << " (x-upcast-from)\n";
        for (std::size_t i = transitive ? 0 : j - 1; i < j; ++i) {
          const auto& older = c->find(type, versions[i])->document;
          const std::string pair = now + " against v" + std::to_string(versions[i]);
          std::vector<std::string> problems;
          // backward: the new version reads old data (after the upcaster, when one is declared for it).
          if (mode != "forward" && !(upcast && i + 1 == j))
            for (auto& p : read_problems(older, newer)) problems.push_back("backward: " + p);
          if (mode != "backward")
            for (auto& p : read_problems(newer, older)) problems.push_back("forward: " + p);
          for (const auto& p : problems) std::cout << "incompatible: " << pair << ": " << p << '\n';
          failures += static_cast<int>(problems.size());
        }
      }
    }
    if (failures) throw Error(ErrorCode::schema, std::to_string(failures) + " incompatibilities (" + args->mode + ")");
    std::cout << "compatible (" << args->mode << "): " << c->types().size() << " types\n";
  });
}

}  // namespace herald::cli
