#include "read_options.hpp"

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/options.hpp"

namespace herald::kafka {

namespace {

// Kafka's legal topic characters; the prefix and topic name must use only these.
bool valid_topic_text(const std::string& s) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

std::string brokers_from(const Url& url, const std::string& redacted) {
  if (url.host.empty()) throw ConfigError("kafka: url '" + redacted + "' names no broker (kafka://host:port[,host:port])");
  if (url.host.find(',') != std::string::npos) {
    std::string out;
    std::size_t start = 0;
    while (start <= url.host.size()) {
      auto comma = url.host.find(',', start);
      std::string one = url.host.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (one.empty()) throw ConfigError("kafka: url '" + redacted + "': empty host in the broker list");
      if (one.find(':') == std::string::npos) one += ":9092";
      out += (out.empty() ? "" : ",") + one;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }
  return url.host + ":" + std::to_string(url.port ? url.port : 9092);
}

}  // namespace

KafkaOptions read_options(const BusConfig& config) {
  const std::string redacted = redact_url(config.url);
  Url url = Url::parse(config.url);
  if (url.scheme != "kafka") throw ConfigError("kafka: url '" + redacted + "' is not kafka://");
  if (!url.path.empty()) throw ConfigError("kafka: url '" + redacted + "' must not have a path");

  KafkaOptions o;
  o.brokers = brokers_from(url, redacted);
  o.sasl_username = url.user;
  o.sasl_password = url.password;

  OptionReader r(config, "kafka");
  o.topic_prefix = r.text("topic_prefix", o.topic_prefix);
  o.topic_rule = r.choice("topic_rule", "family", {"family", "single"}) == "single" ? TopicRule::single : TopicRule::family;
  o.topic = r.text("topic", o.topic);
  o.partitions = static_cast<int>(r.integer("partitions", o.partitions, 1, 10'000));
  o.replication_factor = static_cast<int>(r.integer("replication_factor", o.replication_factor, -1, 100));
  if (o.replication_factor == 0) throw ConfigError("kafka: option 'replication_factor' = '0' is not -1 or at least 1");
  o.create_topics = r.flag("create_topics", o.create_topics);
  o.mode = r.choice("mode", "structured", {"structured", "binary"}) == "binary" ? BindingMode::binary : BindingMode::structured;
  o.low_latency = r.choice("latency", "balanced", {"balanced", "low"}) == "low";
  o.group_prefix = r.text("group_prefix", o.group_prefix);
  o.retry_topic = r.flag("retry_topic", o.retry_topic);
  o.in_process_attempts = static_cast<int>(r.integer("in_process_attempts", o.in_process_attempts, 1, 1000));
  o.max_in_flight = static_cast<std::size_t>(r.integer("max_in_flight", static_cast<long long>(o.max_in_flight), 1, 10'000'000));
  o.commit_interval = r.duration("commit_interval", o.commit_interval);
  o.subscribe_timeout = r.duration("subscribe_timeout", o.subscribe_timeout);
  o.drain_timeout = r.duration("drain_timeout", o.drain_timeout);
  o.admin_timeout = r.duration("admin_timeout", o.admin_timeout);
  for (auto& [k, v] : r.with_prefix("kafka.")) {
    if (k.rfind("producer.", 0) == 0) o.producer_properties[k.substr(9)] = v;
    else if (k.rfind("consumer.", 0) == 0) o.consumer_properties[k.substr(9)] = v;
    else o.properties[k] = v;
  }
  r.finish();

  if (o.topic_prefix.empty() || !valid_topic_text(o.topic_prefix))
    throw ConfigError("kafka: option 'topic_prefix' = '" + o.topic_prefix +
                      "' must be non-empty and use only a-z A-Z 0-9 . _ - (Kafka topic characters)");
  if (o.topic.empty() || !valid_topic_text(o.topic))
    throw ConfigError("kafka: option 'topic' = '" + o.topic + "' must be non-empty and use only a-z A-Z 0-9 . _ -");
  if (o.commit_interval.count() < 1) throw ConfigError("kafka: option 'commit_interval' must be at least 1ms");
  for (const auto* props : {&o.properties, &o.producer_properties, &o.consumer_properties})
    for (const auto& [k, v] : *props)
    {
      if (k == "group.id" || k == "enable.auto.commit" || k == "enable.auto.offset.store")
        throw ConfigError("kafka: property '" + k + "' is managed by herald (use option 'group_prefix' for group ids)");
      // herald's rebalance handling is the eager protocol's (assign / unassign).
      if (k == "partition.assignment.strategy" && v.find("cooperative") != std::string::npos)
        throw ConfigError("kafka: property 'partition.assignment.strategy' = '" + v +
                          "': cooperative rebalancing is not supported (use range or roundrobin)");
    }
  return o;
}

}  // namespace herald::kafka
