#pragma once
// librdkafka's C handles, each owned by a unique_ptr with its destroy
// function. The only place the transport spells a destroy call.

#include <librdkafka/rdkafka.h>

#include <memory>

namespace herald::kafka {

namespace detail {
template <class T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept {
    if (p) Destroy(p);
  }
};
inline void destroy_metadata(const rd_kafka_metadata_t* p) { rd_kafka_metadata_destroy(p); }
}  // namespace detail

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, detail::Deleter<rd_kafka_conf_t, rd_kafka_conf_destroy>>;
/// A producer or consumer. Consumers are closed (rd_kafka_consumer_close)
/// by their owner before this destroys them.
using KafkaPtr = std::unique_ptr<rd_kafka_t, detail::Deleter<rd_kafka_t, rd_kafka_destroy>>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, detail::Deleter<rd_kafka_topic_t, rd_kafka_topic_destroy>>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, detail::Deleter<rd_kafka_queue_t, rd_kafka_queue_destroy>>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, detail::Deleter<rd_kafka_event_t, rd_kafka_event_destroy>>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, detail::Deleter<rd_kafka_message_t, rd_kafka_message_destroy>>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, detail::Deleter<rd_kafka_headers_t, rd_kafka_headers_destroy>>;
using PartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    detail::Deleter<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, detail::Deleter<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>>;
using AdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, detail::Deleter<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, detail::Deleter<const rd_kafka_metadata_t, detail::destroy_metadata>>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, detail::Deleter<rd_kafka_error_t, rd_kafka_error_destroy>>;

/// A consumer that leaves its group (or drops its assignment) before it goes.
struct ConsumerDeleter {
  void operator()(rd_kafka_t* p) const noexcept {
    if (!p) return;
    rd_kafka_consumer_close(p);
    rd_kafka_destroy(p);
  }
};
using ConsumerPtr = std::unique_ptr<rd_kafka_t, ConsumerDeleter>;

inline PartitionListPtr make_partition_list(int size = 0) {
  return PartitionListPtr(rd_kafka_topic_partition_list_new(size));
}

}  // namespace herald::kafka
