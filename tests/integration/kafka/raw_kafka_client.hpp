#pragma once
// Plain librdkafka for the integration tests: write records exactly as a
// foreign producer would, and read back what herald put on the wire.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_options.hpp"

namespace herald::test {

struct RawRecord {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;

  /// The last header called `name`, or "" when absent.
  std::string header(const std::string& name) const {
    for (auto it = headers.rbegin(); it != headers.rend(); ++it)
      if (it->first == name) return it->second;
    return {};
  }
  bool has_header(const std::string& name) const {
    for (const auto& h : headers)
      if (h.first == name) return true;
    return false;
  }
};

namespace raw_detail {
struct Destroy {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
using Client = std::unique_ptr<rd_kafka_t, Destroy>;

inline Client make(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& props) {
  std::unique_ptr<rd_kafka_conf_t, Destroy> conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [k, v] : props)
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::runtime_error("raw kafka: " + k + ": " + err);
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("raw kafka: ") + err);
  (void)conf.release();
  return Client(rk);
}
}  // namespace raw_detail

/// Produces one record and waits for its delivery.
inline void produce_raw(const std::string& topic, const std::string& key, const std::string& value,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
  auto rk = raw_detail::make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_brokers()}, {"enable.idempotence", "true"}});
  std::unique_ptr<rd_kafka_headers_t, raw_detail::Destroy> hdrs(rd_kafka_headers_new(headers.size()));
  for (const auto& [n, v] : headers) rd_kafka_header_add(hdrs.get(), n.data(), static_cast<ssize_t>(n.size()), v.data(), static_cast<ssize_t>(v.size()));
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
      RD_KAFKA_V_VALUE(value.empty() ? nullptr : const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_HEADERS(hdrs.get()), RD_KAFKA_V_END);
  if (err) throw std::runtime_error(std::string("raw kafka: produce: ") + rd_kafka_err2str(err));
  (void)hdrs.release();
  if (rd_kafka_flush(rk.get(), 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(rk.get()) > 0)
    throw std::runtime_error("raw kafka: record not delivered within 30 s");
}

/// Reads `topic` from the beginning of every partition until `count`
/// records arrived or `timeout` passed; returns what arrived.
inline std::vector<RawRecord> read_topic(const std::string& topic, std::size_t count,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto rk = raw_detail::make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", kafka_brokers()},
                                                 {"group.id", unique_name("raw-reader")},
                                                 {"enable.auto.commit", "false"}});
  const rd_kafka_metadata_t* raw = nullptr;
  std::vector<RawRecord> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int partitions = 0;
  while (partitions == 0 && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    if (rd_kafka_metadata(rk.get(), 0, rkt, &raw, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::unique_ptr<const rd_kafka_metadata_t, raw_detail::Destroy> md(raw);
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) partitions = md->topics[0].partition_cnt;
    }
    rd_kafka_topic_destroy(rkt);
  }
  if (partitions == 0) return out;
  std::unique_ptr<rd_kafka_topic_partition_list_t, raw_detail::Destroy> list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk.get(), list.get());
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<rd_kafka_message_t, raw_detail::Destroy> m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m || m->err) continue;
    RawRecord r;
    r.topic = rd_kafka_topic_name(m->rkt);
    r.partition = m->partition;
    r.offset = m->offset;
    if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* h = nullptr;
    if (rd_kafka_message_headers(m.get(), &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name;
      const void* value;
      size_t size;
      for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
        r.headers.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : std::string());
    }
    out.push_back(std::move(r));
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

/// Creates `topic` with topic-level `configs` (e.g. max.message.bytes) and
/// waits until its leaders answer, so herald finds it ready-made.
inline void create_topic(const std::string& topic, int partitions,
                         const std::vector<std::pair<std::string, std::string>>& configs) {
  auto rk = raw_detail::make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_brokers()}});
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err);
  if (!nt) throw std::runtime_error(std::string("raw kafka: new topic: ") + err);
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string failure;
  if (!ev) {
    failure = "no answer within 30 s";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n == 1 && rd_kafka_topic_result_error(results[0])) failure = rd_kafka_topic_result_error_string(results[0]);
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  if (!failure.empty()) throw std::runtime_error("raw kafka: create topic '" + topic + "': " + failure);
  bool ready = wait_until([&] {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* raw = nullptr;
    bool ok = false;
    if (rd_kafka_metadata(rk.get(), 0, rkt, &raw, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::unique_ptr<const rd_kafka_metadata_t, raw_detail::Destroy> md(raw);
      ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
           md->topics[0].partition_cnt == partitions;
      for (int i = 0; ok && i < md->topics[0].partition_cnt; ++i) ok = md->topics[0].partitions[i].leader >= 0;
    }
    rd_kafka_topic_destroy(rkt);
    return ok;
  }, std::chrono::seconds(30));
  if (!ready) throw std::runtime_error("raw kafka: topic '" + topic + "' has no leaders after 30 s");
}

/// Whether the cluster has `topic` (asks for every topic: asking for one
/// could create it on a broker that creates topics on demand).
inline bool topic_exists(const std::string& topic) {
  auto rk = raw_detail::make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_brokers()}});
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &raw, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("raw kafka: cannot read the cluster's topics");
  std::unique_ptr<const rd_kafka_metadata_t, raw_detail::Destroy> md(raw);
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].topic == topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
  return false;
}

/// The offset `group` committed for `topic`/`partition`, -1 when none.
inline std::int64_t committed_offset(const std::string& group, const std::string& topic, std::int32_t partition) {
  auto rk = raw_detail::make(RD_KAFKA_CONSUMER, {{"bootstrap.servers", kafka_brokers()}, {"group.id", group}});
  std::unique_ptr<rd_kafka_topic_partition_list_t, raw_detail::Destroy> list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
  if (rd_kafka_committed(rk.get(), list.get(), 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
  return list->elems[0].offset < 0 ? -1 : list->elems[0].offset;
}

/// Whether the cluster's coordinator knows consumer group `group` (in any
/// state but Dead: an empty group that kept offsets is listed too).
inline bool group_exists(const std::string& group) {
  auto rk = raw_detail::make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_brokers()}});
  const rd_kafka_group_list* raw = nullptr;
  if (rd_kafka_list_groups(rk.get(), group.c_str(), &raw, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("raw kafka: cannot describe group '" + group + "'");
  bool found = false;
  for (int i = 0; i < raw->group_cnt; ++i)
    if (raw->groups[i].group == group && raw->groups[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        std::string(raw->groups[i].state) != "Dead")
      found = true;
  rd_kafka_group_list_destroy(raw);
  return found;
}

/// The consumer groups the cluster knows whose name starts with `prefix`.
inline std::vector<std::string> groups_starting_with(const std::string& prefix) {
  auto rk = raw_detail::make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_brokers()}});
  const rd_kafka_group_list* raw = nullptr;
  if (rd_kafka_list_groups(rk.get(), nullptr, &raw, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("raw kafka: cannot list the consumer groups");
  std::vector<std::string> out;
  for (int i = 0; i < raw->group_cnt; ++i)
    if (std::string(raw->groups[i].group).rfind(prefix, 0) == 0) out.emplace_back(raw->groups[i].group);
  rd_kafka_group_list_destroy(raw);
  return out;
}

/// The cluster's topics whose name starts with `prefix`.
inline std::vector<std::string> topics_starting_with(const std::string& prefix) {
  auto rk = raw_detail::make(RD_KAFKA_PRODUCER, {{"bootstrap.servers", kafka_brokers()}});
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &raw, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error("raw kafka: cannot read the cluster's topics");
  std::unique_ptr<const rd_kafka_metadata_t, raw_detail::Destroy> md(raw);
  std::vector<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (std::string(md->topics[i].topic).rfind(prefix, 0) == 0) out.emplace_back(md->topics[i].topic);
  return out;
}

}  // namespace herald::test
