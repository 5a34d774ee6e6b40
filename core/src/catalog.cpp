// valijson aborts the process on a schema it cannot compile unless told to throw.
#define VALIJSON_USE_EXCEPTIONS 1

#include "herald/catalog.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "herald/log.hpp"
#include "herald/pattern.hpp"

namespace herald {

UnknownSchema unknown_schema_from(std::string_view word) {
  if (word == "allow") return UnknownSchema::allow;
  if (word == "warn") return UnknownSchema::warn;
  if (word == "refuse") return UnknownSchema::refuse;
  throw ConfigError("schemas: unknown '" + printable(word) + "' is not allow, warn or refuse");
}

const char* to_string(UnknownSchema policy) noexcept {
  switch (policy) {
    case UnknownSchema::allow: return "allow";
    case UnknownSchema::warn: return "warn";
    case UnknownSchema::refuse: return "refuse";
  }
  return "allow";
}

namespace {

std::string text_of(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// valijson's context: "<root>", then "[name]" per property and "[i]" per item.
std::string json_pointer(const std::vector<std::string>& context) {
  std::string out;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') part = part.substr(1, part.size() - 2);
    out += '/';
    for (char c : part) {
      if (c == '~') out += "~0";
      else if (c == '/') out += "~1";
      else out += c;
    }
  }
  return out;
}

std::string label(std::string_view type, int version) {
  return "schema: " + printable(type, 200) + " v" + std::to_string(version);
}

// A Validator caches the regular expressions of `pattern` keywords it met;
// one per thread keeps them compiled across events.
valijson::Validator& thread_validator() {
  thread_local valijson::Validator validator;
  return validator;
}

}  // namespace

std::string Catalog::Entry::title() const { return text_of(document, "title"); }
std::string Catalog::Entry::description() const { return text_of(document, "description"); }
std::string Catalog::Entry::partition_key() const { return text_of(document, "x-partition-key"); }

std::vector<nlohmann::json> Catalog::Entry::examples() const {
  auto it = document.find("examples");
  if (it == document.end() || !it->is_array()) return {};
  return std::vector<nlohmann::json>(it->begin(), it->end());
}

struct Catalog::Impl {
  struct Compiled {
    Entry entry;
    std::unique_ptr<valijson::Schema> schema;
  };
  CatalogOptions options;
  std::map<std::string, std::map<int, Compiled>, std::less<>> types;
  mutable std::mutex warned_mutex;
  mutable std::set<std::pair<std::string, int>> warned;

  const Compiled* find(std::string_view type, int version) const {
    auto t = types.find(type);
    if (t == types.end()) return nullptr;
    auto v = t->second.find(version);
    return v == t->second.end() ? nullptr : &v->second;
  }

  std::optional<SchemaError> unknown(std::string_view type, int version) const {
    if (options.unknown == UnknownSchema::allow) return std::nullopt;
    auto t = types.find(type);
    std::string why = t == types.end() ? "the catalog has no schema for this type"
                                       : "the catalog has no schema for this version";
    if (options.unknown == UnknownSchema::warn) {
      std::lock_guard lock(warned_mutex);
      // Once per type and version, and a bounded set: a flood of made-up types must not grow it.
      if (warned.size() < 1000 && warned.emplace(std::string(type), version).second)
        log(LogLevel::warn, "herald.catalog", label(type, version) + ": " + why + " (unknown=warn: passed unchecked)");
      return std::nullopt;
    }
    return SchemaError(std::string(type), version, "", "", label(type, version) + ": " + why + " (unknown=refuse)");
  }
};

Catalog::Catalog(CatalogOptions options) : impl_(std::make_unique<Impl>()) { impl_->options = options; }
Catalog::~Catalog() = default;
Catalog::Catalog(Catalog&&) noexcept = default;
Catalog& Catalog::operator=(Catalog&&) noexcept = default;

const CatalogOptions& Catalog::options() const noexcept { return impl_->options; }

void Catalog::add(std::string type, int version, nlohmann::json document, std::filesystem::path file) {
  const std::string where = file.empty() ? type + " v" + std::to_string(version) : file.string();
  try {
    validate_event_type(type);
  } catch (const ConfigError& ex) {
    throw ConfigError("catalog: " + where + ": " + ex.what());
  }
  if (version < 1) throw ConfigError("catalog: " + where + ": version must be 1 or more");
  if (!document.is_object()) throw ConfigError("catalog: " + where + ": a schema must be a JSON object");
  Impl::Compiled compiled;
  compiled.entry = {type, version, std::move(document), std::move(file)};
  compiled.schema = std::make_unique<valijson::Schema>();
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(compiled.entry.document);
    parser.populateSchema(adapter, *compiled.schema);
  } catch (const std::exception& ex) {
    throw ConfigError("catalog: " + where + ": not a schema the validator can compile: " + ex.what());
  }
  impl_->types[type][version] = std::move(compiled);
}

Catalog Catalog::load(const std::filesystem::path& dir, CatalogOptions options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw ConfigError("catalog: '" + dir.string() + "' is not a folder (expected <type>/v<N>.json inside)");
  Catalog catalog(options);
  std::vector<fs::path> folders;
  for (const auto& item : fs::directory_iterator(dir)) {
    const std::string name = item.path().filename().string();
    if (name.starts_with(".")) continue;
    if (item.is_directory()) folders.push_back(item.path());
    else if (item.path().extension() == ".json")
      throw ConfigError("catalog: " + item.path().string() + ": schemas go in <type>/v<N>.json");
  }
  std::sort(folders.begin(), folders.end());
  for (const auto& folder : folders) {
    const std::string type = folder.filename().string();
    for (const auto& item : fs::directory_iterator(folder)) {
      const fs::path& file = item.path();
      const std::string name = file.filename().string();
      if (name.starts_with(".") || file.extension() != ".json") continue;
      const std::string stem = file.stem().string();
      int version = 0;
      auto [end, err] = std::from_chars(stem.data() + std::min<std::size_t>(1, stem.size()), stem.data() + stem.size(), version);
      if (stem.size() < 2 || stem[0] != 'v' || err != std::errc() || end != stem.data() + stem.size())
        throw ConfigError("catalog: " + file.string() + ": expected a name v<N>.json (v1.json, v2.json, ...)");
      std::ifstream in(file);
      if (!in) throw ConfigError("catalog: cannot read " + file.string());
      nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
      if (doc.is_discarded()) throw ConfigError("catalog: " + file.string() + ": malformed JSON");
      catalog.add(type, version, std::move(doc), file);
    }
  }
  return catalog;
}

std::vector<std::string> Catalog::types() const {
  std::vector<std::string> out;
  for (const auto& [type, _] : impl_->types) out.push_back(type);
  return out;
}

std::vector<int> Catalog::versions(std::string_view type) const {
  std::vector<int> out;
  if (auto t = impl_->types.find(type); t != impl_->types.end())
    for (const auto& [v, _] : t->second) out.push_back(v);
  return out;
}

std::optional<int> Catalog::latest(std::string_view type) const {
  auto t = impl_->types.find(type);
  if (t == impl_->types.end() || t->second.empty()) return std::nullopt;
  return t->second.rbegin()->first;
}

const Catalog::Entry* Catalog::find(std::string_view type, int version) const {
  const auto* c = impl_->find(type, version);
  return c ? &c->entry : nullptr;
}

std::optional<SchemaError> Catalog::violation(std::string_view type, int version, const nlohmann::json& data) const {
  const auto* c = impl_->find(type, version);
  if (!c) return impl_->unknown(type, version);
  try {
    valijson::adapters::NlohmannJsonAdapter adapter(data);
    // Valid events (the common case) skip collecting the reasons.
    if (thread_validator().validate(*c->schema, adapter, nullptr)) return std::nullopt;
    valijson::ValidationResults results;
    thread_validator().validate(*c->schema, adapter, &results);
    // The deepest error names the value; the ones above it only say that
    // a property or item below failed.
    valijson::ValidationResults::Error error, best;
    while (results.popError(error))
      if (best.context.empty() || error.context.size() > best.context.size()) best = error;
    std::string pointer = json_pointer(best.context);
    std::string rule = best.description.empty() ? "invalid" : best.description;
    return SchemaError(std::string(type), version, pointer, rule,
                       label(type, version) + ": " + (pointer.empty() ? "(data)" : printable(pointer, 200)) + ": " +
                           printable(rule, 300));
  } catch (const std::exception& ex) {
    return SchemaError(std::string(type), version, "", "validator failed",
                       label(type, version) + ": the validator failed: " + printable(ex.what(), 300));
  }
}

std::optional<SchemaError> Catalog::violation(const Envelope& event) const {
  if (!event.datacontenttype.empty() && event.datacontenttype.find("json") == std::string::npos) return std::nullopt;
  if (!impl_->find(event.type, event.dataversion)) return impl_->unknown(event.type, event.dataversion);
  nlohmann::json data;
  if (!event.data.empty()) {
    data = nlohmann::json::parse(event.data, nullptr, false);
    if (data.is_discarded())
      return SchemaError(event.type, event.dataversion, "", "data is not JSON",
                         label(event.type, event.dataversion) + ": (data): data is not JSON");
  }
  return violation(event.type, event.dataversion, data);
}

void Catalog::check(const Envelope& event) const {
  if (auto v = violation(event)) throw std::move(*v);
}

void Catalog::check(std::string_view type, int version, const nlohmann::json& data) const {
  if (auto v = violation(type, version, data)) throw std::move(*v);
}

}  // namespace herald
