#pragma once
// Options of the Kafka transport (kafka://host:port[,host:port]).

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

namespace herald::kafka {

/// How an envelope travels in a Kafka record (CloudEvents Kafka protocol binding).
enum class BindingMode {
  /// Value: the CloudEvents JSON document; header content-type: application/cloudevents+json.
  structured,
  /// Value: the data; every attribute a `ce_<name>` header; header content-type: datacontenttype.
  binary,
};

/// How an event type names its topic.
enum class TopicRule {
  /// topic_prefix + the type's first word: order.created and order.paid share `herald.order`.
  family,
  /// Every type in one topic: topic_prefix + `topic`.
  single,
};

/// kafka://127.0.0.1:9092?topic_prefix=shop.&partitions=6&mode=binary&kafka.linger.ms=10
///
/// Keys prefixed `kafka.` pass through to librdkafka for every client of the
/// bus (SSL, SASL, tuning); `kafka.producer.` and `kafka.consumer.` only to
/// the producer or to consumers. Pass-through values win over herald's
/// defaults. A user and password in the URL become sasl.username and
/// sasl.password (security.protocol SASL_PLAINTEXT, sasl.mechanisms PLAIN
/// unless given); they never appear in errors or logs.
struct KafkaOptions {
  /// bootstrap.servers, from the URL's host list (port 9092 when absent).
  std::string brokers;
  std::string sasl_username;
  std::string sasl_password;

  // --- topics -------------------------------------------------------------
  std::string topic_prefix = "herald.";
  TopicRule topic_rule = TopicRule::family;
  /// With topic_rule=single: the topic's name after the prefix.
  std::string topic = "events";
  /// For topics herald creates (event, retry and dead-letter topics).
  int partitions = 3;
  /// -1: the broker's default.replication.factor.
  int replication_factor = -1;
  /// Create missing topics with the admin API; off when ACLs forbid it and
  /// the topics are provisioned by other means.
  bool create_topics = true;

  // --- publish ------------------------------------------------------------
  BindingMode mode = BindingMode::structured;
  /// `latency=low`: every client sends at once instead of waiting to batch
  /// (producer linger.ms 0, Nagle off, consumers' parked fetches bounded at
  /// 10 ms). Throughput under load falls (smaller batches, more requests);
  /// the default, `balanced`, batches for up to 5 ms.
  bool low_latency = false;

  // --- consume ------------------------------------------------------------
  /// Kafka consumer group id = group_prefix + SubscribeSpec::group.
  std::string group_prefix;
  /// After `in_process_attempts` failed runs (and while the retry policy
  /// allows more), move the event to `<topic>.retry.<group>` so its
  /// partition moves on; off: every attempt waits in process.
  bool retry_topic = true;
  int in_process_attempts = 3;
  /// Events taken from Kafka but not yet handled, per subscription; polling
  /// stops above it.
  std::size_t max_in_flight = 10'000;
  /// How often handled offsets are committed (also on rebalance and cancel).
  std::chrono::milliseconds commit_interval{100};
  /// subscribe() returns once the member has its partitions; it throws
  /// TimeoutError after this long.
  std::chrono::milliseconds subscribe_timeout{30'000};
  /// On rebalance or cancel: how long running handlers of given-up
  /// partitions may take before the partitions are released anyway.
  std::chrono::milliseconds drain_timeout{10'000};
  /// Admin requests (create topics) and dead-letter scans.
  std::chrono::milliseconds admin_timeout{30'000};

  /// librdkafka properties for every client, for the producer, for consumers.
  std::map<std::string, std::string> properties;
  std::map<std::string, std::string> producer_properties;
  std::map<std::string, std::string> consumer_properties;
};

}  // namespace herald::kafka
