#pragma once
// Creates the topics herald needs (event, retry and dead-letter topics) with
// the configured partition count and replication factor, once per bus.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "client_config.hpp"
#include "herald/kafka/options.hpp"

namespace herald::kafka {

/// Thread-safe. Uses a client it does not own (the bus's producer).
class TopicAdmin {
 public:
  TopicAdmin(rd_kafka_t* client, const KafkaOptions& options, const Redactor& redactor);

  /// Makes sure each topic exists and the leader of every partition has
  /// its log (it answers ListOffsets).
  /// Returns the topics this call created. Throws TransportError (broker
  /// away, timeout) or ConfigError (the broker refuses the settings).
  std::vector<std::string> ensure(const std::vector<std::string>& topics);
  /// Whether ensure() made sure of `topic` already (no broker round trip).
  bool known(std::string_view topic) const;

 private:
  void wait_until_ready(const std::vector<std::string>& topics);

  rd_kafka_t* client_;
  const KafkaOptions& options_;
  const Redactor& redactor_;
  std::mutex mutex_;               // one creation at a time
  mutable std::shared_mutex known_mutex_;  // guards known_
  std::set<std::string, std::less<>> known_;
};

/// Partitions of the topics for which `keep(topic)` holds, from the
/// cluster's metadata. Throws TransportError.
struct TopicPartitions {
  std::string topic;
  int partitions = 0;
};
template <class Keep>
std::vector<TopicPartitions> list_topics(rd_kafka_t* client, std::chrono::milliseconds timeout, Keep keep);
std::vector<TopicPartitions> list_all_topics(rd_kafka_t* client, std::chrono::milliseconds timeout);

/// Errors that clear by themselves: a topic made a moment ago (leaders not
/// known yet, or a leader that has not created the partition's log), a
/// broker away or slow, a coordinator moving.
bool settles(rd_kafka_resp_err_t err);

/// Milliseconds left until `deadline`, at least 1: librdkafka's timeouts.
int ms_until(std::chrono::steady_clock::time_point deadline);

/// The offset after the last record of each partition of `topics`, asked of
/// the partitions' leaders (ListOffsets). Errors that settle are asked again
/// until `deadline`; then, and on any other error, throws TransportError
/// "kafka: <what>: <error>".
using PartitionEnds = std::map<std::pair<std::string, std::int32_t>, std::int64_t>;
PartitionEnds partition_ends(rd_kafka_t* client, const std::vector<TopicPartitions>& topics,
                             std::chrono::steady_clock::time_point deadline, const std::string& what);

template <class Keep>
std::vector<TopicPartitions> list_topics(rd_kafka_t* client, std::chrono::milliseconds timeout, Keep keep) {
  std::vector<TopicPartitions> out;
  for (auto& t : list_all_topics(client, timeout))
    if (keep(t.topic)) out.push_back(std::move(t));
  return out;
}

}  // namespace herald::kafka
