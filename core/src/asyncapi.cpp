#include "herald/asyncapi.hpp"

#include <cctype>
#include <map>
#include <optional>
#include <set>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "herald/ext/options.hpp"
#include "herald/pattern.hpp"

namespace herald {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* amqp_binding_version = "0.3.0";
constexpr const char* kafka_binding_version = "0.5.0";
// Fixed, so that the document is the same on every run (it is committed and diffed).
constexpr const char* example_id = "3f6c1a52-9b0e-4c7d-8a21-5d4e6f708192";
constexpr const char* example_time = "2026-01-01T12:00:00Z";

// How an event travels on a server: its headers and payload differ.
enum class Wire : std::uint8_t {
  amqp,              // the CloudEvents JSON document; partitionkey also in a header
  kafka_structured,  // the CloudEvents JSON document; header content-type
  kafka_binary,      // the data; one ce_<attribute> header each
};

const char* wire_suffix(Wire wire) {
  switch (wire) {
    case Wire::amqp: return "amqp";
    case Wire::kafka_structured: return "kafka";
    case Wire::kafka_binary: return "kafka-binary";
  }
  return "";
}

// AsyncAPI keys (components, channels, operations) allow A-Z a-z 0-9 . _ -
// only; an event type may hold other characters.
std::string key_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      c = '_';
  return out;
}

// As adapters/kafka/src/topic_naming.cpp: characters Kafka refuses in topic names become '_'.
std::string topic_safe(std::string_view text) { return key_safe(text); }

std::string message_key(const std::string& type, int version, Wire wire) {
  return key_safe(type) + ".v" + std::to_string(version) + "." + wire_suffix(wire);
}

std::string schema_key(const std::string& type, int version) { return key_safe(type) + ".v" + std::to_string(version); }

Json ref_to(const std::string& pointer) { return Json{{"$ref", pointer}}; }

// A schema's own references (`#/definitions/x`) point into the schema; in
// the document they must point to where it is put.
void rebase_refs(Json& schema, const std::string& base) {
  if (schema.is_object()) {
    for (auto& [key, value] : schema.items()) {
      if (key == "$ref" && value.is_string()) {
        const std::string target = value.get<std::string>();
        if (!target.empty() && target.front() == '#') value = base + target.substr(1);
      } else {
        rebase_refs(value, base);
      }
    }
  } else if (schema.is_array()) {
    for (auto& item : schema) rebase_refs(item, base);
  }
}

// One transport of the service as the document describes it.
struct Server {
  std::string id;
  Wire wire = Wire::amqp;
  Json object;
  // RabbitMQ (adapters/rabbitmq/include/herald/rabbitmq/options.hpp)
  std::string exchange;
  std::string queue_prefix;
  std::string vhost;
  bool mandatory = false;
  // Kafka (adapters/kafka/include/herald/kafka/options.hpp)
  std::string topic_prefix;
  std::string single_topic;  // topic_rule=single: the one topic; empty: a topic per family
  std::string group_prefix;
  std::optional<int> partitions;
  std::optional<int> replicas;

  bool is_kafka() const { return wire != Wire::amqp; }
  // As herald's Kafka adapter names topics (TopicNaming::event_topic).
  std::string topic(std::string_view type) const {
    if (!single_topic.empty()) return single_topic;
    return topic_prefix + topic_safe(type.substr(0, type.find('.')));
  }
  std::string address(const std::string& type) const { return is_kafka() ? topic(type) : type; }
  std::string channel_id(const std::string& type) const { return id + "." + key_safe(address(type)); }
};

// "host:port" of the first host; every host in the description.
struct Hosts {
  std::string first;
  std::string all;
};

// `host` with `port` unless it names one ("h:9093", "[::1]:5672").
std::string with_port(const std::string& host, int port) {
  const bool bracketed = !host.empty() && host.front() == '[';
  const bool has_port = bracketed ? host.find("]:") != std::string::npos : host.find(':') != std::string::npos;
  return has_port ? host : host + ":" + std::to_string(port);
}

Hosts hosts_of(const Url& url, int default_port) {
  if (url.host.find(',') == std::string::npos) {
    const std::string one = with_port(url.host, url.port ? url.port : default_port);
    return {one, one};
  }
  Hosts h;
  std::size_t start = 0;
  while (start <= url.host.size()) {
    const auto comma = url.host.find(',', start);
    const std::string one =
        with_port(url.host.substr(start, comma == std::string::npos ? std::string::npos : comma - start), default_port);
    if (h.first.empty()) h.first = one;
    h.all += (h.all.empty() ? "" : ",") + one;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return h;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Json attribute_schema(const ext::Attribute& a) {
  switch (a.kind) {
    case ext::AttributeKind::timestamp: return {{"type", "string"}, {"format", "date-time"}};
    case ext::AttributeKind::integer: return {{"type", "integer"}, {"minimum", 1}};
    default: return {{"type", "string"}, {"minLength", 1}};
  }
}

const char* attribute_description(std::string_view name) {
  static const std::map<std::string_view, const char*> descriptions = {
      {"id", "Unique per source; herald's idempotency key."},
      {"source", "The publishing service (the configuration's `source`)."},
      {"type", "The event type (on RabbitMQ the routing key)."},
      {"time", "When the event happened (RFC 3339)."},
      {"datacontenttype", "Media type of data (application/json)."},
      {"dataversion", "Version of data's schema in the event catalog; absent means 1."},
      {"partitionkey", "Ordering key: events with one key are handled in publish order (on Kafka the record key)."},
      {"aggregatetype", "Type of the aggregate the event is about."},
      {"aggregateid", "Id of the aggregate the event is about."},
      {"correlationid", "Id shared by the events of one business operation."},
      {"causationid", "Id of the event or command that caused this one."},
      {"traceparent", "W3C trace context of the publishing span."},
      {"actor", "Who did it (user or service id)."},
  };
  auto it = descriptions.find(name);
  return it == descriptions.end() ? "" : it->second;
}

class Generator {
 public:
  Generator(const BusConfig& config, const Catalog& catalog, const AsyncApiOptions& options)
      : config_(config), catalog_(catalog), options_(options) {}

  Json run();

 private:
  std::optional<std::size_t> server_for(const std::string& url);
  Server amqp_server(const BusConfig& target, const Url& url);
  Server kafka_server(const BusConfig& target, const Url& url);
  std::string security_scheme(const std::string& name, Json scheme);

  std::string ensure_schema(const std::string& type, int version);
  std::string ensure_message(const std::string& type, int version, Wire wire);
  std::string ensure_channel(const Server& server, const std::string& type);
  std::string ensure_queue_channel(const Server& server, const AsyncApiGroup& group);
  void add_messages(Json& channel, const std::string& channel_id, const std::string& type, Wire wire, Json* operation);

  void send(const Server& server, const std::string& type);
  void receive(const Server& server, const std::string& type);
  void receive(const Server& server, const AsyncApiGroup& group, const std::vector<std::string>& types);

  Json structured_payload(const std::string& type, int version, const std::string& data_schema) const;
  Json binary_headers(const std::string& type, int version) const;
  Json example(const Catalog::Entry& entry, Wire wire) const;
  std::string description() const;

  const BusConfig& config_;
  const Catalog& catalog_;
  const AsyncApiOptions& options_;
  std::vector<Server> servers_;
  std::map<std::string, std::optional<std::size_t>> server_of_url_;
  std::set<std::string> skipped_schemes_;
  std::vector<std::string> unrouted_;
  std::vector<std::string> notes_;
  Json channels_ = Json::object();
  Json operations_ = Json::object();
  Json messages_ = Json::object();
  Json schemas_ = Json::object();
  Json security_ = Json::object();
};

std::string Generator::security_scheme(const std::string& name, Json scheme) {
  security_[name] = std::move(scheme);
  return "#/components/securitySchemes/" + name;
}

std::optional<std::size_t> Generator::server_for(const std::string& url) {
  if (auto it = server_of_url_.find(url); it != server_of_url_.end()) return it->second;
  // A single `url`: its options are beside it; a route target carries them in its query.
  BusConfig target = config_.routes.empty() ? config_ : BusConfig::from_url(url);
  if (config_.routes.empty()) target.url = url;
  const Url parsed = Url::parse(target.url);
  std::optional<std::size_t> index;
  if (parsed.scheme == "amqp" || parsed.scheme == "amqps") {
    servers_.push_back(amqp_server(target, parsed));
    index = servers_.size() - 1;
  } else if (parsed.scheme == "kafka") {
    servers_.push_back(kafka_server(target, parsed));
    index = servers_.size() - 1;
  } else {
    skipped_schemes_.insert(parsed.scheme);
  }
  server_of_url_[url] = index;
  return index;
}

Server Generator::amqp_server(const BusConfig& target, const Url& url) {
  std::size_t same = 1;
  for (const auto& s : servers_) same += s.is_kafka() ? 0 : 1;
  Server s;
  s.id = same == 1 ? "rabbitmq" : "rabbitmq-" + std::to_string(same);
  s.wire = Wire::amqp;
  OptionReader r(target, "rabbitmq");
  s.exchange = r.text("exchange", "herald.events");
  s.queue_prefix = r.text("queue_prefix", "");
  s.mandatory = r.choice("unroutable", "keep", {"keep", "error", "drop"}) == "error";
  const bool quorum = r.choice("queue_type", "classic", {"classic", "quorum"}) == "quorum";
  const bool single_active = r.flag("single_active_consumer", false);
  s.vhost = url.path.empty() ? "/" : url.path;
  const bool tls = url.scheme == "amqps";
  const Hosts hosts = hosts_of(url, tls ? 5671 : 5672);
  if (hosts.first.empty() || hosts.first.front() == ':') throw ConfigError("asyncapi: url '" + redact_url(target.url) + "' names no host");

  std::string text = "RabbitMQ" + std::string(tls ? " over TLS" : "") + ": events are published to the durable topic exchange '" +
                     s.exchange + "' (routing key = event type) with publisher confirms; group G reads queue '" +
                     s.queue_prefix + "G' (" + (quorum ? "quorum" : "classic") +
                     (single_active ? ", single active consumer" : "") + ").";
  if (hosts.all != hosts.first) text += " Hosts: " + hosts.all + ".";
  s.object = {{"host", hosts.first}, {"protocol", tls ? "amqps" : "amqp"}, {"protocolVersion", "0-9-1"}};
  if (s.vhost != "/") s.object["pathname"] = "/" + s.vhost;
  s.object["description"] = text;
  Json security = Json::array();
  if (!url.user.empty())
    security.push_back(ref_to(security_scheme(s.id + "-user", {{"type", "userPassword"},
                                                             {"description", "AMQP PLAIN login (user and password in the URL)."}})));
  if (!r.text("tls_cert", "").empty())
    security.push_back(ref_to(security_scheme(s.id + "-certificate", {{"type", "X509"},
                                                                   {"description", "TLS client certificate (tls_cert, tls_key)."}})));
  if (!security.empty()) s.object["security"] = security;
  return s;
}

Server Generator::kafka_server(const BusConfig& target, const Url& url) {
  std::size_t same = 1;
  for (const auto& s : servers_) same += s.is_kafka() ? 1 : 0;
  Server s;
  s.id = same == 1 ? "kafka" : "kafka-" + std::to_string(same);
  OptionReader r(target, "kafka");
  s.topic_prefix = r.text("topic_prefix", "herald.");
  if (r.choice("topic_rule", "family", {"family", "single"}) == "single") s.single_topic = s.topic_prefix + r.text("topic", "events");
  const auto partitions = static_cast<int>(r.integer("partitions", 3, 1, 10'000));
  const auto replicas = static_cast<int>(r.integer("replication_factor", -1, -1, 100));
  // Partitions are known where herald creates the topics.
  if (r.flag("create_topics", true)) {
    s.partitions = partitions;
    if (replicas > 0) s.replicas = replicas;
  }
  s.wire = r.choice("mode", "structured", {"structured", "binary"}) == "binary" ? Wire::kafka_binary : Wire::kafka_structured;
  s.group_prefix = r.text("group_prefix", "");
  const std::map<std::string, std::string> client = r.with_prefix("kafka.");
  auto property = [&](const std::string& name) {
    for (const std::string& key : {name, "producer." + name, "consumer." + name})
      if (auto it = client.find(key); it != client.end()) return it->second;
    return std::string();
  };
  const std::string protocol = lower(property("security.protocol"));
  const bool sasl = !url.user.empty() || !property("sasl.username").empty() || protocol.find("sasl") != std::string::npos;
  const bool tls = protocol.find("ssl") != std::string::npos;
  const Hosts hosts = hosts_of(url, 9092);
  if (hosts.first.empty() || hosts.first.front() == ':') throw ConfigError("asyncapi: url '" + redact_url(target.url) + "' names no broker");

  std::string text = "Kafka: " +
                     (s.single_topic.empty() ? "a topic per event family ('" + s.topic_prefix + "' + the type's first word)"
                                             : "every event type in topic '" + s.single_topic + "'") +
                     ", record key = partitionkey, CloudEvents " +
                     (s.wire == Wire::kafka_binary ? "binary mode (ce_ headers)" : "structured mode") +
                     "; group G is consumer group '" + s.group_prefix + "G'. Bootstrap servers: " + hosts.all + ".";
  s.object = {{"host", hosts.first}, {"protocol", tls ? "kafka-secure" : "kafka"}, {"description", text}};
  Json security = Json::array();
  if (sasl) {
    const std::string mechanism = property("sasl.mechanisms").empty() ? property("sasl.mechanism") : property("sasl.mechanisms");
    const std::string upper = mechanism.empty() ? "PLAIN" : mechanism;
    const char* type = upper == "SCRAM-SHA-256" ? "scramSha256"
                       : upper == "SCRAM-SHA-512" ? "scramSha512"
                       : upper == "GSSAPI"        ? "gssapi"
                       : upper == "OAUTHBEARER"   ? "oauth2"
                                                  : "plain";
    Json scheme = {{"type", type}, {"description", "SASL " + upper + " (user and password in the URL or kafka.sasl.* options)."}};
    if (std::string_view(type) == "oauth2") scheme["flows"] = Json::object();
    security.push_back(ref_to(security_scheme(s.id + "-sasl", std::move(scheme))));
  }
  if (!property("ssl.certificate.location").empty() || !property("ssl.certificate.pem").empty())
    security.push_back(ref_to(security_scheme(s.id + "-certificate",
                                           {{"type", "X509"}, {"description", "TLS client certificate (kafka.ssl.*)."}})));
  if (!security.empty()) s.object["security"] = security;
  return s;
}

std::string Generator::ensure_schema(const std::string& type, int version) {
  const std::string key = schema_key(type, version);
  if (!schemas_.contains(key)) {
    Json schema = catalog_.find(type, version)->document;
    rebase_refs(schema, "#/components/schemas/" + key);
    schemas_[key] = std::move(schema);
  }
  return "#/components/schemas/" + key;
}

Json Generator::structured_payload(const std::string& type, int version, const std::string& data_schema) const {
  Json properties = Json::object();
  for (const ext::Attribute& a : ext::attributes) {
    Json p = attribute_schema(a);
    if (const char* text = attribute_description(a.name); *text) p["description"] = text;
    properties[std::string(a.name)] = std::move(p);
  }
  properties["specversion"] = {{"type", "string"}, {"const", "1.0"}};
  properties["type"] = {{"type", "string"}, {"const", type}, {"description", attribute_description("type")}};
  properties["dataversion"] = {{"type", "integer"}, {"const", version}, {"description", attribute_description("dataversion")}};
  properties["data"] = ref_to(data_schema);
  Json required = {"specversion", "id", "source", "type", "data"};
  if (version != 1) required.push_back("dataversion");
  return {{"type", "object"},
          {"description", "CloudEvents 1.0 JSON format with herald's extension attributes; data is " + type + " v" +
                              std::to_string(version) + " of the event catalog."},
          {"required", required},
          {"properties", properties},
          {"additionalProperties",
           {{"type", Json::array({"string", "number", "boolean"})}, {"description", "Other extension attributes."}}}};
}

Json Generator::binary_headers(const std::string& type, int version) const {
  Json properties = Json::object();
  for (const ext::Attribute& a : ext::attributes) {
    if (a.text == &Envelope::datacontenttype) continue;  // travels as content-type
    Json p = a.kind == ext::AttributeKind::timestamp ? Json{{"type", "string"}, {"format", "date-time"}}
                                                    : Json{{"type", "string"}, {"minLength", 1}};
    if (const char* text = attribute_description(a.name); *text) p["description"] = text;
    properties["ce_" + std::string(a.name)] = std::move(p);
  }
  properties["ce_specversion"] = {{"type", "string"}, {"const", "1.0"}};
  properties["ce_type"] = {{"type", "string"}, {"const", type}};
  properties["ce_dataversion"] = {{"type", "string"},
                                  {"const", std::to_string(version)},
                                  {"description", "Version of data's schema; absent for version 1."}};
  properties["content-type"] = {{"type", "string"}, {"description", "The event's datacontenttype (application/json)."}};
  Json required = {"ce_specversion", "ce_id", "ce_type", "ce_source", "content-type"};
  if (version != 1) required.push_back("ce_dataversion");
  return {{"type", "object"},
          {"required", required},
          {"properties", properties},
          {"additionalProperties", {{"type", "string"}, {"description", "ce_<extension> headers."}}}};
}

Json Generator::example(const Catalog::Entry& entry, Wire wire) const {
  const auto samples = entry.examples();
  if (samples.empty()) return nullptr;
  const Json data = samples.front();
  std::string key;
  if (const std::string pointer = entry.partition_key(); !pointer.empty()) {
    try {
      const Json& value = data.at(Json::json_pointer(pointer));
      key = value.is_string() ? value.get<std::string>() : value.dump();
    } catch (const std::exception&) {
      key.clear();  // the example lacks the field: an example without a key
    }
  }
  Json out = {{"name", key_safe(entry.type) + "-v" + std::to_string(entry.version)},
              {"summary", "An example from the catalog's schema."}};
  if (wire == Wire::kafka_binary) {
    Json headers = {{"ce_specversion", "1.0"}, {"ce_id", example_id}, {"ce_type", entry.type},
                    {"ce_source", config_.source}, {"ce_time", example_time}};
    if (entry.version != 1) headers["ce_dataversion"] = std::to_string(entry.version);
    if (!key.empty()) headers["ce_partitionkey"] = key;
    headers["content-type"] = "application/json";
    out["headers"] = headers;
    out["payload"] = data;
    return out;
  }
  Json event = {{"specversion", "1.0"}, {"id", example_id},  {"source", config_.source},
                {"type", entry.type},   {"time", example_time}, {"datacontenttype", "application/json"}};
  if (entry.version != 1) event["dataversion"] = entry.version;
  if (!key.empty()) event["partitionkey"] = key;
  event["data"] = data;
  if (wire == Wire::amqp && !key.empty()) out["headers"] = {{"x-herald-partitionkey", key}};
  if (wire == Wire::kafka_structured) out["headers"] = {{"content-type", std::string(cloudevents_json)}};
  out["payload"] = event;
  return out;
}

std::string Generator::ensure_message(const std::string& type, int version, Wire wire) {
  const std::string key = message_key(type, version, wire);
  if (messages_.contains(key)) return key;
  const Catalog::Entry& entry = *catalog_.find(type, version);
  const std::string data_schema = ensure_schema(type, version);
  Json m = {{"name", type}, {"title", entry.title().empty() ? type + " v" + std::to_string(version) : entry.title()}};
  if (!entry.description().empty()) m["summary"] = entry.description();
  const std::string pointer = entry.partition_key();
  const std::string key_text = pointer.empty() ? "the event's partitionkey (set by the publisher)"
                                               : "the event's partitionkey, the data's " + pointer;
  switch (wire) {
    case Wire::amqp:
      m["description"] = "RabbitMQ message: body = the CloudEvents JSON document; properties content-type " +
                         std::string(cloudevents_json) + ", message-id = id, delivery-mode 2 (persistent).";
      m["contentType"] = std::string(cloudevents_json);
      m["headers"] = {{"type", "object"},
                      {"properties", {{"x-herald-partitionkey", {{"type", "string"}, {"description", key_text + "; absent when empty"}}}}}};
      m["payload"] = structured_payload(type, version, data_schema);
      m["correlationId"] = {{"description", "The correlationid attribute."}, {"location", "$message.payload#/correlationid"}};
      break;
    case Wire::kafka_structured:
      m["description"] = "Kafka record, CloudEvents structured mode: value = the CloudEvents JSON document.";
      m["contentType"] = std::string(cloudevents_json);
      m["headers"] = {{"type", "object"},
                      {"required", {"content-type"}},
                      {"properties", {{"content-type", {{"type", "string"}, {"const", std::string(cloudevents_json)}}}}}};
      m["payload"] = structured_payload(type, version, data_schema);
      m["correlationId"] = {{"description", "The correlationid attribute."}, {"location", "$message.payload#/correlationid"}};
      break;
    case Wire::kafka_binary:
      m["description"] = "Kafka record, CloudEvents binary mode: value = the data, attributes in ce_ headers.";
      m["contentType"] = "application/json";
      m["headers"] = binary_headers(type, version);
      m["payload"] = ref_to(data_schema);
      m["correlationId"] = {{"description", "The correlationid attribute."}, {"location", "$message.header#/ce_correlationid"}};
      break;
  }
  if (wire != Wire::amqp)
    m["bindings"] = {{"kafka", {{"key", {{"type", "string"}, {"description", key_text + "; no key when empty"}}},
                                {"bindingVersion", kafka_binding_version}}}};
  if (Json sample = example(entry, wire); !sample.is_null()) m["examples"] = Json::array({sample});
  m["x-herald-type"] = type;
  m["x-herald-dataversion"] = version;
  messages_[key] = std::move(m);
  return key;
}

void Generator::add_messages(Json& channel, const std::string& channel_id, const std::string& type, Wire wire,
                             Json* operation) {
  for (int version : catalog_.versions(type)) {
    const std::string key = ensure_message(type, version, wire);
    channel["messages"][key] = ref_to("#/components/messages/" + key);
    if (operation) (*operation)["messages"].push_back(ref_to("#/channels/" + channel_id + "/messages/" + key));
  }
}

std::string Generator::ensure_channel(const Server& server, const std::string& type) {
  const std::string id = server.channel_id(type);
  if (!channels_.contains(id)) {
    Json c = {{"address", server.address(type)},
              {"title", server.is_kafka() ? "Kafka topic " + server.topic(type)
                                          : "Routing key " + type + " on exchange " + server.exchange},
              {"messages", Json::object()}};
    if (server.is_kafka()) {
      Json binding = {{"topic", server.topic(type)}};
      if (server.partitions) binding["partitions"] = *server.partitions;
      if (server.replicas) binding["replicas"] = *server.replicas;
      binding["bindingVersion"] = kafka_binding_version;
      c["bindings"] = {{"kafka", binding}};
    } else {
      c["bindings"] = {{"amqp",
                        {{"is", "routingKey"},
                         {"exchange", {{"name", server.exchange}, {"type", "topic"}, {"durable", true}, {"autoDelete", false},
                                       {"vhost", server.vhost}}},
                         {"bindingVersion", amqp_binding_version}}}};
    }
    c["servers"] = Json::array({ref_to("#/servers/" + server.id)});
    channels_[id] = std::move(c);
  }
  add_messages(channels_[id], id, type, server.wire, nullptr);
  return id;
}

std::string Generator::ensure_queue_channel(const Server& server, const AsyncApiGroup& group) {
  const std::string queue = server.queue_prefix + group.name;
  const std::string id = server.id + ".queue." + key_safe(queue);
  if (!channels_.contains(id)) {
    channels_[id] = {
        {"address", queue},
        {"title", "Queue of group " + group.name},
        {"description", "Bound to exchange '" + server.exchange + "' with binding key '" + group.pattern +
                            "'; the group's retries wait in '" + queue + ".retry.<n>', its dead letters in '" + queue +
                            ".dlq'."},
        {"messages", Json::object()},
        {"bindings",
         {{"amqp",
           {{"is", "queue"},
            {"queue", {{"name", queue}, {"durable", true}, {"exclusive", false}, {"autoDelete", false}, {"vhost", server.vhost}}},
            {"bindingVersion", amqp_binding_version}}}}},
        {"servers", Json::array({ref_to("#/servers/" + server.id)})}};
  }
  return id;
}

void Generator::send(const Server& server, const std::string& type) {
  const std::string channel = ensure_channel(server, type);
  Json op = {{"action", "send"},
             {"channel", ref_to("#/channels/" + channel)},
             {"summary", "Publishes " + type + (server.is_kafka() ? " to topic " + server.topic(type) : " to exchange " + server.exchange) + "."},
             {"messages", Json::array()}};
  add_messages(channels_[channel], channel, type, server.wire, &op);
  if (!server.is_kafka())
    op["bindings"] = {{"amqp", {{"deliveryMode", 2}, {"mandatory", server.mandatory}, {"bindingVersion", amqp_binding_version}}}};
  operations_["send." + server.id + "." + key_safe(type)] = std::move(op);
}

void Generator::receive(const Server& server, const std::string& type) {
  const std::string channel = ensure_channel(server, type);
  Json op = {{"action", "receive"},
             {"channel", ref_to("#/channels/" + channel)},
             {"summary", "Receives " + type + " (each consuming group of the service gets every event)."},
             {"messages", Json::array()}};
  add_messages(channels_[channel], channel, type, server.wire, &op);
  if (!server.is_kafka()) op["bindings"] = {{"amqp", {{"ack", true}, {"bindingVersion", amqp_binding_version}}}};
  operations_["receive." + server.id + "." + key_safe(type)] = std::move(op);
}

void Generator::receive(const Server& server, const AsyncApiGroup& group, const std::vector<std::string>& types) {
  if (!server.is_kafka()) {
    const std::string channel = ensure_queue_channel(server, group);
    Json op = {{"action", "receive"},
               {"channel", ref_to("#/channels/" + channel)},
               {"summary", "Group " + group.name + " receives " + group.pattern + " from its queue."},
               {"messages", Json::array()},
               {"bindings", {{"amqp", {{"ack", true}, {"bindingVersion", amqp_binding_version}}}}}};
    for (const auto& type : types) add_messages(channels_[channel], channel, type, server.wire, &op);
    operations_["receive." + server.id + "." + key_safe(group.name)] = std::move(op);
    return;
  }
  // A Kafka group reads topics: one operation per topic its pattern's types live in.
  std::map<std::string, std::vector<std::string>> by_topic;
  for (const auto& type : types) by_topic[server.topic(type)].push_back(type);
  for (const auto& [topic, in_topic] : by_topic) {
    std::string channel;
    for (const auto& type : in_topic) channel = ensure_channel(server, type);
    Json op = {{"action", "receive"},
               {"channel", ref_to("#/channels/" + channel)},
               {"summary", "Group " + group.name + " receives " + group.pattern + " from topic " + topic + "."},
               {"messages", Json::array()},
               {"bindings", {{"kafka",
                              {{"groupId", {{"type", "string"}, {"enum", Json::array({server.group_prefix + group.name})}}},
                               {"bindingVersion", kafka_binding_version}}}}}};
    for (const auto& type : in_topic) add_messages(channels_[channel], channel, type, server.wire, &op);
    operations_["receive." + server.id + "." + key_safe(group.name) + "." + key_safe(topic)] = std::move(op);
  }
}

std::string Generator::description() const {
  std::string text = "Events of `" + config_.source +
                     "`, generated by `herald asyncapi` from the service's configuration and its event catalog. "
                     "Every event is a CloudEvents 1.0 event; its data is described by the catalog's JSON Schema for "
                     "its type and dataversion (components.schemas).";
  if (!config_.outbox.empty()) {
    std::string scheme;
    try {
      scheme = Url::parse(config_.outbox).scheme;
    } catch (const ConfigError&) {
      scheme = "an event store";
    }
    text += "\n\nPublished through a transactional outbox (" + scheme + "): a relay delivers each event to the brokers "
            "at least once.";
  }
  text += "\n\nReceive operations: ";
  text += options_.groups.empty()
              ? "the configuration names no consuming groups, so there is one receive operation per event type, on the "
                "channel it is sent on (RabbitMQ: each group reads a queue of its own bound to these routing keys)."
              : "one per consuming group (and Kafka topic); RabbitMQ groups read a queue of their own.";
  for (const auto& note : notes_) text += "\n\n" + note;
  text += "\n\nNot described: retry queues and topics (`<queue>.retry.<n>`, `<topic>.retry.<group>`), dead-letter queues "
          "and topics (`<queue>.dlq`, `<topic>.dlq`), the unroutable exchange, and the x-herald-* delivery headers of "
          "redelivered events.";
  return text;
}

Json Generator::run() {
  std::vector<Route> routes = config_.routes;
  if (routes.empty()) routes.push_back(Route{.match = "#", .publish = {config_.url}});

  // Each route's servers, publish and read, in the order configured.
  std::vector<std::vector<std::size_t>> publish_to(routes.size()), read_from(routes.size());
  for (std::size_t i = 0; i < routes.size(); ++i) {
    for (const auto& url : routes[i].publish)
      if (auto s = server_for(url)) publish_to[i].push_back(*s);
    for (const auto& url : routes[i].read_from())
      if (auto s = server_for(url)) read_from[i].push_back(*s);
  }
  for (const auto& group : options_.groups) {
    if (group.name.empty()) throw ConfigError("asyncapi: a group needs a name");
    validate_pattern(group.pattern);
  }

  std::map<std::size_t, std::vector<std::string>> readable;  // server → the types read from it
  for (const auto& type : catalog_.types()) {
    std::size_t r = 0;
    while (r < routes.size() && !matches(routes[r].match, type)) ++r;
    if (r == routes.size()) {
      unrouted_.push_back(type);
      continue;
    }
    for (std::size_t s : publish_to[r]) send(servers_[s], type);
    for (std::size_t s : read_from[r]) readable[s].push_back(type);
  }
  for (const auto& [s, types] : readable) {
    if (options_.groups.empty()) {
      for (const auto& type : types) receive(servers_[s], type);
      continue;
    }
    for (const auto& group : options_.groups) {
      std::vector<std::string> wanted;
      for (const auto& type : types)
        if (matches(group.pattern, type)) wanted.push_back(type);
      if (!wanted.empty()) receive(servers_[s], group, wanted);
    }
  }

  if (!skipped_schemes_.empty()) {
    std::string list;
    for (const auto& scheme : skipped_schemes_) list += (list.empty() ? "" : ", ") + scheme + "://";
    notes_.push_back("Targets not described (in-process or not a broker AsyncAPI has bindings for): " + list + ".");
  }
  if (!unrouted_.empty()) {
    std::string list;
    for (const auto& type : unrouted_) list += (list.empty() ? "" : ", ") + type;
    notes_.push_back("Catalog types no route takes (neither sent nor received here): " + list + ".");
  }
  for (const auto& group : options_.groups) {
    bool any = false;
    for (const auto& [s, types] : readable)
      for (const auto& type : types) any = any || matches(group.pattern, type);
    if (!any) notes_.push_back("Group " + group.name + " (" + group.pattern + ") matches no catalog type read here.");
  }

  Json doc = {{"asyncapi", "3.0.0"}};
  doc["info"] = {{"title", options_.title.empty() ? "herald service " + config_.source : options_.title},
                 {"version", options_.version},
                 {"description", description()}};
  doc["defaultContentType"] = std::string(cloudevents_json);
  if (!servers_.empty()) {
    Json servers = Json::object();
    for (const auto& s : servers_) servers[s.id] = s.object;
    doc["servers"] = servers;
  }
  doc["channels"] = channels_;
  doc["operations"] = operations_;
  Json components = {{"messages", messages_}, {"schemas", schemas_}};
  if (!security_.empty()) components["securitySchemes"] = security_;
  doc["components"] = components;
  return doc;
}

// YAML ----------------------------------------------------------------------

// A JSON string is a valid YAML double-quoted scalar (YAML's escapes are a
// superset of JSON's), so strings and keys are written as JSON writes them.
void yaml_value(const Json& value, std::string& out, int indent);

void yaml_indent(std::string& out, int indent) { out.append(static_cast<std::size_t>(indent), ' '); }

bool yaml_block(const Json& value) { return (value.is_object() || value.is_array()) && !value.empty(); }

void yaml_scalar(const Json& value, std::string& out) {
  if (value.is_object()) out += "{}";
  else if (value.is_array()) out += "[]";
  else out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void yaml_value(const Json& value, std::string& out, int indent) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      yaml_indent(out, indent);
      out += Json(key).dump(-1, ' ', false, Json::error_handler_t::replace) + ":";
      if (yaml_block(item)) {
        out += '\n';
        yaml_value(item, out, indent + 2);
      } else {
        out += ' ';
        yaml_scalar(item, out);
        out += '\n';
      }
    }
  } else if (value.is_array()) {
    for (const auto& item : value) {
      yaml_indent(out, indent);
      out += "-";
      if (yaml_block(item)) {
        out += '\n';
        yaml_value(item, out, indent + 2);
      } else {
        out += ' ';
        yaml_scalar(item, out);
        out += '\n';
      }
    }
  }
}

}  // namespace

nlohmann::ordered_json asyncapi_document(const BusConfig& config, const Catalog& catalog, const AsyncApiOptions& options) {
  return Generator(config, catalog, options).run();
}

std::string to_yaml(const nlohmann::ordered_json& document) {
  if (!yaml_block(document)) {
    std::string out;
    yaml_scalar(document, out);
    return out + '\n';
  }
  std::string out;
  yaml_value(document, out, 0);
  return out;
}

}  // namespace herald
