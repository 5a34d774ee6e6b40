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
  wait_for_leaders(missing);
  std::unique_lock known_lock(known_mutex_);
  known_.insert(missing.begin(), missing.end());
  return created;
}

void TopicAdmin::wait_for_leaders(const std::vector<std::string>& topics) {
  const auto deadline = std::chrono::steady_clock::now() + options_.admin_timeout;
  std::string last = "not in the metadata yet";
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
          if (leaders) break;
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
}

}  // namespace herald::kafka
