#pragma once
// Which topic an event type lives in, which topics a pattern subscribes to,
// and the names of the retry and dead-letter topics beside them.
//
//   family rule (default):  order.created  -> <prefix>order
//                           retry          -> <prefix>order.retry.<group id>
//                           dead letters   -> <prefix>order.dlq
//   single rule:            every type     -> <prefix><topic>

#include <string>
#include <string_view>
#include <vector>

#include "herald/kafka/options.hpp"

namespace herald::kafka {

/// The topics one subscription reads.
struct TopicSelection {
  /// The one event topic, or empty for every event topic (pattern starting with a wildcard).
  std::string event_topic;
  std::string group_id;
};

class TopicNaming {
 public:
  explicit TopicNaming(const KafkaOptions& options);

  std::string event_topic(std::string_view type) const;
  std::string retry_topic(const std::string& event_topic, const std::string& group_id) const;
  std::string dlq_topic(const std::string& event_topic) const;

  bool is_event_topic(std::string_view topic) const;
  bool is_dlq_topic(std::string_view topic) const;

  TopicSelection select(std::string_view pattern, const std::string& group_id) const;
  /// The subscription list for rd_kafka_subscribe: names, or anchored regexes.
  std::vector<std::string> subscription(const TopicSelection& selection) const;
  /// Whether `topic` is one of the selection's event or retry topics.
  bool selected(const TopicSelection& selection, std::string_view topic) const;
  /// Whether the selection reads whatever event topic comes into existence.
  bool is_open(const TopicSelection& selection) const { return selection.event_topic.empty(); }

 private:
  std::string prefix_;
  TopicRule rule_;
  std::string single_;
};

/// `text` with characters Kafka refuses in topic names replaced by '_'.
std::string topic_safe(std::string_view text);

}  // namespace herald::kafka
