#pragma once
// The event catalog: a JSON Schema (draft-07) per event type and data
// version, loaded from a folder laid out as `<dir>/<type>/v<N>.json`
// (docs/catalog.md). With a catalog in the bus's configuration
// (BusConfig::decode.catalog; `"schemas"` in the config file, HERALD_SCHEMAS),
// publish refuses data that does not validate (SchemaError) and subscribers
// dead-letter it on receipt with reason `schema_error`.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/envelope.hpp"
#include "herald/errors.hpp"
#include "herald/typed.hpp"

namespace herald {

/// What to do with an event whose type or version the catalog has no schema for.
enum class UnknownSchema : std::uint8_t {
  allow,   // pass it on unchecked (a catalog that covers some types only)
  warn,    // pass it on, and log a warning once per type and version (herald/log.hpp)
  refuse,  // SchemaError at publish, schema_error on receipt
};

/// "allow", "warn", "refuse"; ConfigError for another word.
UnknownSchema unknown_schema_from(std::string_view word);
const char* to_string(UnknownSchema policy) noexcept;

struct CatalogOptions {
  UnknownSchema unknown = UnknownSchema::allow;
  /// Check events at publish (EventBus::publish).
  bool at_publish = true;
  /// Check events before a subscriber's handler runs. Off only where a
  /// trusted publisher checked them already and the cost matters.
  bool on_receipt = true;
};

/// Every event type's schemas, by data version, compiled once. Immutable
/// after it is built and shared (`std::shared_ptr<const Catalog>`): every
/// const member is thread-safe.
///
/// \code
///   auto catalog = std::make_shared<const herald::Catalog>(herald::Catalog::load("schemas/events"));
///   herald::BusConfig config = herald::BusConfig::from_env();
///   config.decode.catalog = catalog;             // or HERALD_SCHEMAS=schemas/events
///   auto bus = herald::make_bus(config);
///   bus->publish(herald::Envelope::make("order.created", {{"total", -1}}));  // throws SchemaError
/// \endcode
class Catalog {
 public:
  /// One schema: an event type at one data version.
  struct Entry {
    std::string type;
    int version = 0;
    nlohmann::json document;     // the schema as written
    std::filesystem::path file;  // where it was read ("" when added in code)
    std::string title() const;
    std::string description() const;
    /// The `x-partition-key` keyword: a JSON pointer into the data naming
    /// the field that is the event's partition key ("" when not named).
    std::string partition_key() const;
    /// The `examples` keyword: sample payloads (each must validate).
    std::vector<nlohmann::json> examples() const;
  };

  explicit Catalog(CatalogOptions options = {});
  ~Catalog();
  Catalog(Catalog&&) noexcept;
  Catalog& operator=(Catalog&&) noexcept;

  /// Reads `dir/<type>/v<N>.json` for every type folder in `dir`. Throws
  /// ConfigError naming the file for a folder that is not an event type, a
  /// file not named v<N>.json, malformed JSON or a document the validator
  /// cannot compile.
  static Catalog load(const std::filesystem::path& dir, CatalogOptions options = {});

  /// Adds (or replaces) the schema of `type` at `version`. Not thread-safe:
  /// build the catalog before sharing it. Throws ConfigError as load does.
  void add(std::string type, int version, nlohmann::json document, std::filesystem::path file = {});

  const CatalogOptions& options() const noexcept;
  std::vector<std::string> types() const;
  /// The type's versions, ascending; empty for an unknown type.
  std::vector<int> versions(std::string_view type) const;
  /// The highest version of `type`; nullopt for an unknown type.
  std::optional<int> latest(std::string_view type) const;
  /// The schema of `type` at `version`, or null.
  const Entry* find(std::string_view type, int version) const;

  /// Why `data` does not validate against the schema of `type` at
  /// `version`, or nullopt when it does (or the schema is unknown and the
  /// policy lets it pass). Never throws for any data.
  std::optional<SchemaError> violation(std::string_view type, int version, const nlohmann::json& data) const;
  /// The same for an event: its type, dataversion and data (JSON text;
  /// data that is not JSON text fails). Events whose datacontenttype is not
  /// JSON are not checked.
  std::optional<SchemaError> violation(const Envelope& event) const;
  /// Throws the violation, if any.
  void check(const Envelope& event) const;
  void check(std::string_view type, int version, const nlohmann::json& data) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Throws SchemaError when `sample`'s JSON form does not validate against
/// the catalog's schema for T::event_type at T::event_version, or when the
/// catalog has no such schema: a struct and its schema that drifted apart
/// are caught in a unit test, not in production.
template <TypedEvent T>
void check_typed(const Catalog& catalog, const T& sample) {
  const std::string type(T::event_type);
  if (!catalog.find(type, T::event_version))
    throw SchemaError(type, T::event_version, "", "",
                      "schema: " + type + " v" + std::to_string(T::event_version) + ": the catalog has no schema");
  catalog.check(type, T::event_version, nlohmann::json(sample));
}

}  // namespace herald
