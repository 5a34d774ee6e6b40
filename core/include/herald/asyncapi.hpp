#pragma once
// An AsyncAPI 3.0 document for a service, generated from its bus
// configuration (transports, route table) and the event catalog: servers,
// channels, operations, messages with the CloudEvents envelope as herald's
// bindings carry it, and the AMQP and Kafka bindings (docs/catalog.md).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/catalog.hpp"
#include "herald/config.hpp"

namespace herald {

/// A consuming group of the service: what it subscribes with
/// (SubscribeSpec::group and ::pattern). The configuration does not name
/// groups (they are in code), so the caller lists them.
struct AsyncApiGroup {
  std::string name;
  std::string pattern = "#";
};

struct AsyncApiOptions {
  /// info.title; empty: "herald service <source>".
  std::string title;
  /// info.version: the version of this API description.
  std::string version = "1.0.0";
  /// With groups: one receive operation per group (and Kafka topic), on the
  /// group's queue for RabbitMQ. Without: one receive operation per event
  /// type, on the channel it is sent on.
  std::vector<AsyncApiGroup> groups;
};

/// The AsyncAPI 3.0.0 document. Every catalog type the route table routes
/// (or every type, for a single `url`) is sent to its route's publish
/// targets and received from its read targets; memory:// targets are
/// in-process and not described. Servers name host and port only: no user,
/// password or query option of a target URL appears in the document.
/// Keys keep the order AsyncAPI documents are read in (asyncapi, info,
/// servers, channels, operations, components). Throws ConfigError for a
/// target URL, option or group pattern that is not valid.
///
/// \code
///   herald::BusConfig config = herald::BusConfig::from_file("herald.json");
///   herald::Catalog catalog = herald::Catalog::load("schemas/events");
///   nlohmann::ordered_json doc = herald::asyncapi_document(config, catalog, {.groups = {{"billing", "order.#"}}});
///   std::cout << herald::to_yaml(doc);
/// \endcode
nlohmann::ordered_json asyncapi_document(const BusConfig& config, const Catalog& catalog, const AsyncApiOptions& options = {});

/// `document` as YAML (block style, every string and key double-quoted, so
/// nothing is read as another type).
std::string to_yaml(const nlohmann::ordered_json& document);

}  // namespace herald
