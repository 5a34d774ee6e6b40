#include "topic_admin.hpp"

#include <algorithm>
#include <thread>

#include "handles.hpp"
#include "herald/errors.hpp"

namespace herald::kafka {

TopicAdmin::TopicAdmin(rd_kafka_t* client, const KafkaOptions& options, const Redactor& redactor)
    : client_(client), options_(options), redactor_(redactor) {}

std::vector<TopicPartitions> list_all_topics(rd_kafka_t* client, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(client, 1, nullptr, &raw, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw TransportError("kafka: cannot read the cluster's topics: " + describe(err));
  MetadataPtr md(raw);
  std::vector<TopicPartitions> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) out.push_back({t.topic, t.partition_cnt});
  }
  return out;
}

bool settles(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
         err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
         err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
         err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE ||
         err == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE || err == RD_KAFKA_RESP_ERR_NOT_COORDINATOR ||
         err == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS || err == RD_KAFKA_RESP_ERR__WAIT_COORD;
}

int ms_until(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(1, left.count()));
}

PartitionEnds partition_ends(rd_kafka_t* client, const std::vector<TopicPartitions>& topics,
                             std::chrono::steady_clock::time_point deadline, const std::string& what) {
  PartitionListPtr list = make_partition_list();
  // A ListOffsets request for the time "-1" answers with each partition's end.
  for (const auto& t : topics)
    for (int p = 0; p < t.partitions; ++p)
      rd_kafka_topic_partition_list_add(list.get(), t.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_END;
  PartitionEnds ends;
  if (!list->cnt) return ends;
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(client, list.get(), ms_until(deadline));
    const rd_kafka_topic_partition_t* failed = nullptr;  // named in the error: a batch may hold many topics
    for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR || tp.offset < 0) {
        err = tp.err ? tp.err : RD_KAFKA_RESP_ERR__BAD_MSG;
        failed = &tp;
      }
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (!settles(err) || std::chrono::steady_clock::now() >= deadline) {
      std::string where = failed ? " (topic '" + std::string(failed->topic) + "', partition " +
                                       std::to_string(failed->partition) + ")"
                                 : std::string();
      throw TransportError("kafka: " + what + where + ": " + describe(err) + broker_error_suffix(client), settles(err));
    }
    for (int i = 0; i < list->cnt; ++i) {
      list->elems[i].offset = RD_KAFKA_OFFSET_END;
      list->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    // Like the wait for leaders: propagation takes milliseconds.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < list->cnt; ++i) ends[{list->elems[i].topic, list->elems[i].partition}] = list->elems[i].offset;
  return ends;
}

bool TopicAdmin::known(std::string_view topic) const {
  std::shared_lock lock(known_mutex_);
  return known_.find(topic) != known_.end();
}

std::vector<std::string> TopicAdmin::ensure(const std::vector<std::string>& topics) {
  {
    // Almost always every topic is known: do not queue behind a creation.
    std::shared_lock lock(known_mutex_);
    if (std::all_of(topics.begin(), topics.end(), [&](const std::string& t) { return known_.count(t) > 0; })) return {};
  }
  std::lock_guard lock(mutex_);
  std::vector<std::string> missing;
  for (const auto& t : topics)
    if (!known_.count(t) && std::find(missing.begin(), missing.end(), t) == missing.end()) missing.push_back(t);
  if (missing.empty()) return {};
  if (!options_.create_topics) {
    std::unique_lock known_lock(known_mutex_);
    known_.insert(missing.begin(), missing.end());
    return {};
  }

  char errstr[512] = {0};
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> requests;
  for (const auto& t : missing) {
    owned.emplace_back(rd_kafka_NewTopic_new(t.c_str(), options_.partitions, options_.replication_factor, errstr,
                                             sizeof errstr));
    if (!owned.back()) throw ConfigError("kafka: topic '" + t + "': " + std::string(errstr));
    requests.push_back(owned.back().get());
  }
  const int timeout_ms = static_cast<int>(options_.admin_timeout.count());
  AdminOptionsPtr admin(rd_kafka_AdminOptions_new(client_, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  // The broker answers once the topics exist (or the timeout passed).
  rd_kafka_AdminOptions_set_operation_timeout(admin.get(), timeout_ms, errstr, sizeof errstr);
  rd_kafka_AdminOptions_set_request_timeout(admin.get(), timeout_ms, errstr, sizeof errstr);
  QueuePtr queue(rd_kafka_queue_new(client_));
  rd_kafka_CreateTopics(client_, requests.data(), requests.size(), admin.get(), queue.get());
  EventPtr event(rd_kafka_queue_poll(queue.get(), timeout_ms + 5000));
  if (!event)
    throw TransportError("kafka: creating topic '" + missing.front() + "' got no answer in time" +
                         broker_error_suffix(client_));
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw TransportError("kafka: cannot create topic '" + missing.front() + "': " + describe(err) + ": " +
                         redactor_(rd_kafka_event_error_string(event.get())) + broker_error_suffix(client_));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = result ? rd_kafka_CreateTopics_result_topics(result, &n) : nullptr;
  std::vector<std::string> created;
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = rd_kafka_topic_result_name(results[i]);
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      created.push_back(name);
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* why = rd_kafka_topic_result_error_string(results[i]);
      std::string message = "kafka: cannot create topic '" + name + "': " + describe(err) + (why ? std::string(": ") + why : "");
      if (err == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR || err == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS ||
          err == RD_KAFKA_RESP_ERR_INVALID_CONFIG || err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
          err == RD_KAFKA_RESP_ERR_POLICY_VIOLATION)
        throw ConfigError(message);
      throw TransportError(message, err != RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    }
  }
  wait_until_ready(missing);
  std::unique_lock known_lock(known_mutex_);
  known_.insert(missing.begin(), missing.end());
  return created;
}

// The metadata names a leader for a new partition before the leader has
// created the partition's log: a record produced in between met a leader
// without the partition (CI lost one so, twice: the producer was told it was
// written, and no reader found it). A partition is ready when its leader
// answers ListOffsets for it.
void TopicAdmin::wait_until_ready(const std::vector<std::string>& topics) {
  const auto deadline = std::chrono::steady_clock::now() + options_.admin_timeout;
  std::string last = "not in the metadata yet";
  std::vector<TopicPartitions> partitions;
  for (const auto& topic : topics) {
    TopicPtr rkt(rd_kafka_topic_new(client_, topic.c_str(), nullptr));
    for (;;) {
      const rd_kafka_metadata_t* raw = nullptr;
      rd_kafka_resp_err_t err = rd_kafka_metadata(client_, 0, rkt.get(), &raw, 5000);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        MetadataPtr md(raw);
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
          bool leaders = true;
          for (int i = 0; i < md->topics[0].partition_cnt; ++i)
            leaders = leaders && md->topics[0].partitions[i].leader >= 0;
          if (leaders) {
            partitions.push_back({topic, md->topics[0].partition_cnt});
            break;
          }
          last = "partitions without a leader";
        } else if (md->topic_cnt == 1) {
          last = describe(md->topics[0].err);
        }
      } else {
        last = describe(err);
      }
      if (std::chrono::steady_clock::now() >= deadline)
        throw TransportError("kafka: topic '" + topic + "' is not ready: " + last + broker_error_suffix(client_));
      // Metadata propagation on the broker takes milliseconds; ask again soon.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (partitions.empty()) return;
  partition_ends(client_, partitions, deadline, "a new topic is not ready (a partition's leader has no log for it yet)");
}

}  // namespace herald::kafka
