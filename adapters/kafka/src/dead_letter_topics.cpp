#include "dead_letter_topics.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "herald/errors.hpp"
#include "herald/ext/delivery.hpp"

namespace herald::kafka {

namespace {

constexpr const char* h_group = "x-herald-dl-group";
constexpr const char* h_done = "x-herald-dl-done";
constexpr const char* h_action = "x-herald-dl-action";

using TopicPartition = std::pair<std::string, std::int32_t>;

// A topic created a moment ago may answer "not leader" for a while even
// after its metadata names a leader: ask again until the deadline.
void query_watermarks(rd_kafka_t* rk, const char* topic, std::int32_t partition, std::int64_t& low, std::int64_t& high,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic, partition, &low, &high, static_cast<int>(timeout.count()));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    bool transient = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                     err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                     err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
    if (!transient || std::chrono::steady_clock::now() >= deadline)
      throw TransportError("kafka: cannot read the end of '" + std::string(topic) + "': " + describe(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

struct DeadLetterTopics::Found {
  DeadLetter letter;
  std::string key;        // the record's key
  std::string raw_value;  // the record's value (event or raw body)
  std::string content_type;
  std::string topic;  // the .dlq topic
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

struct DeadLetterTopics::Scan {
  std::unique_ptr<ClientHooks> hooks;  // outlives the reader, its opaque
  /// Reader (and committer) for `<group id>.dlq-replay`.
  ConsumerPtr reader;
  std::vector<Found> live;
  std::map<TopicPartition, std::int64_t> start;  // where reading began
  std::map<TopicPartition, std::int64_t> end;    // high watermark when reading
};

DeadLetterTopics::Scan DeadLetterTopics::scan(const std::string& group) {
  Scan s;
  s.hooks = std::make_unique<ClientHooks>(bus_.redactor);
  const std::string replay_group = bus_.options.group_prefix + group + ".dlq-replay";
  s.reader.reset(make_client(RD_KAFKA_CONSUMER,
                             make_conf(bus_.options, ClientRole::reader, *s.hooks, {{"group.id", replay_group}}),
                             *bus_.redactor)
                     .release());
  const int timeout_ms = static_cast<int>(bus_.options.admin_timeout.count());
  auto topics = list_topics(s.reader.get(), bus_.options.admin_timeout,
                            [&](const std::string& t) { return bus_.naming.is_dlq_topic(t); });
  PartitionListPtr all = make_partition_list();
  for (const auto& t : topics)
    for (int p = 0; p < t.partitions; ++p) rd_kafka_topic_partition_list_add(all.get(), t.topic.c_str(), p);
  if (!all->cnt) return s;
  if (rd_kafka_resp_err_t err = rd_kafka_committed(s.reader.get(), all.get(), timeout_ms); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw TransportError("kafka: cannot read the dead-letter progress of group '" + group + "': " + describe(err));

  PartitionListPtr assignment = make_partition_list();
  std::map<TopicPartition, std::int64_t> remaining;  // partitions still to read up to their end
  for (int i = 0; i < all->cnt; ++i) {
    const auto& tp = all->elems[i];
    std::int64_t low = 0, high = 0;
    query_watermarks(s.reader.get(), tp.topic, tp.partition, low, high, bus_.options.admin_timeout);
    std::int64_t from = std::max(low, tp.offset < 0 ? low : tp.offset);
    TopicPartition key{tp.topic, tp.partition};
    s.start[key] = from;
    s.end[key] = high;
    if (from >= high) continue;
    rd_kafka_topic_partition_list_add(assignment.get(), tp.topic, tp.partition)->offset = from;
    remaining[key] = high;
  }
  if (remaining.empty()) return s;
  if (rd_kafka_resp_err_t err = rd_kafka_assign(s.reader.get(), assignment.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw TransportError("kafka: cannot read the dead-letter topics: " + describe(err));

  std::set<std::pair<TopicPartition, std::int64_t>> done;
  const auto deadline = std::chrono::steady_clock::now() + bus_.options.admin_timeout;
  while (!remaining.empty()) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw TimeoutError("kafka: reading the dead letters of group '" + group + "' took longer than " +
                         std::to_string(timeout_ms) + " ms");
    MessagePtr m(rd_kafka_consumer_poll(s.reader.get(), 100));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->err == RD_KAFKA_RESP_ERR__TRANSPORT) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw TransportError("kafka: reading the dead letters of group '" + group + "': " + describe(m->err));
    TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
    auto left = remaining.find(tp);
    if (left != remaining.end() && m->offset + 1 >= left->second) remaining.erase(left);

    HeaderViews headers = read_headers(m.get());
    const HeaderView* owner = find_header(headers, h_group);
    if (!owner || owner->value != group) continue;
    if (const HeaderView* marker = find_header(headers, h_done)) {
      try {
        done.insert({tp, std::stoll(std::string(marker->value))});
      } catch (const std::exception&) {
        // a damaged marker marks nothing
      }
      continue;
    }
    std::map<std::string, std::string> flat;
    for (const auto& h : headers) flat[std::string(h.name)] = std::string(h.value);
    Found f;
    f.letter = DeadLetter::from_headers(flat);
    f.topic = tp.first;
    f.partition = tp.second;
    f.offset = m->offset;
    std::string_view key(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    std::string_view value(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
    f.key.assign(key);
    f.raw_value.assign(value);
    if (f.letter.reason == wire_name(DeadLetterReason::decode_error)) {
      f.letter.raw_body.assign(value);
    } else {
      try {
        f.letter.event = decode_record(key, value, headers, bus_.decode);
      } catch (const std::exception&) {
        f.letter.raw_body.assign(value);
      }
    }
    s.live.push_back(std::move(f));
  }
  std::vector<Found> live;
  for (auto& f : s.live)
    if (!done.count({{f.topic, f.partition}, f.offset})) live.push_back(std::move(f));
  std::stable_sort(live.begin(), live.end(), [](const Found& a, const Found& b) {
    return a.letter.last_failure < b.letter.last_failure;
  });
  s.live = std::move(live);
  return s;
}

std::vector<DeadLetter> DeadLetterTopics::list(const std::string& group, std::size_t limit) {
  Scan s = scan(group);
  std::vector<DeadLetter> out;
  for (auto& f : s.live) {
    if (out.size() >= limit) break;
    out.push_back(std::move(f.letter));
  }
  return out;
}

void DeadLetterTopics::finish(Scan& s, const std::vector<const Found*>& done, const char* action) {
  BatchDelivery delivery;
  for (const Found* f : done) {
    OutRecord marker;
    marker.headers = {{h_group, f->letter.group}, {h_done, std::to_string(f->offset)}, {h_action, action}};
    delivery.expect(1);
    try {
      bus_.producer->produce(f->topic, f->partition, marker, delivery);
    } catch (...) {
      delivery.forget(1);
      delivery.wait();
      throw;
    }
  }
  delivery.wait();
  if (delivery.failed()) throw PublishError(delivery.first_error(), delivery.first_error_retriable());

  // Progress: the group's next scan starts at its first letter still live
  // in each partition, or at the end read this time.
  std::set<const Found*> finished(done.begin(), done.end());
  std::map<TopicPartition, std::int64_t> next = s.end;
  for (const Found& f : s.live)
    if (!finished.count(&f)) {
      auto& n = next[{f.topic, f.partition}];
      n = std::min(n, f.offset);
    }
  PartitionListPtr commit = make_partition_list();
  for (const auto& [tp, offset] : next)
    if (offset > s.start[tp]) rd_kafka_topic_partition_list_add(commit.get(), tp.first.c_str(), tp.second)->offset = offset;
  if (commit->cnt) {
    if (rd_kafka_resp_err_t err = rd_kafka_commit(s.reader.get(), commit.get(), 0); err != RD_KAFKA_RESP_ERR_NO_ERROR)
      // The markers already hide the letters; only the next scan is longer.
      s.hooks->log("herald-dlq", "COMMIT", "cannot record dead-letter progress: " + describe(err));
  }
}

std::size_t DeadLetterTopics::replay(const std::string& group, const std::optional<std::string>& id) {
  Scan s = scan(group);
  std::vector<const Found*> chosen;
  for (const Found& f : s.live)
    if ((!id || f.letter.event.id == *id) && f.letter.reason != wire_name(DeadLetterReason::forward_error)) chosen.push_back(&f);
  if (chosen.empty()) return 0;

  const std::string group_id = bus_.options.group_prefix + group;
  BatchDelivery delivery;
  std::vector<std::string> topics;
  std::vector<std::pair<std::string, OutRecord>> records;
  for (const Found* f : chosen) {
    const DeadLetter& d = f->letter;
    std::string event_topic = bus_.naming.is_event_topic(d.topic) ? d.topic
                              : !d.event.type.empty()             ? bus_.naming.event_topic(d.event.type)
                                                                  : f->topic.substr(0, f->topic.size() - 4);
    OutRecord record;
    if (!d.event.id.empty()) {
      encode_record(d.event, bus_.options.mode, record);
    } else {
      record.key = f->key;
      record.value = f->raw_value;
    }
    DeliveryState fresh;  // no attempts: the policy starts over
    fresh.origin_topic = event_topic;
    fresh.origin_partition = d.partition;
    fresh.origin_offset = d.offset;
    fresh.write_headers(
        [&](std::string_view name, std::string value) { record.headers.emplace_back(std::string(name), std::move(value)); });
    std::string topic = bus_.naming.retry_topic(event_topic, group_id);
    topics.push_back(topic);
    records.emplace_back(std::move(topic), std::move(record));
  }
  if (!bus_.admin.ensure(topics).empty()) bus_.creator.announce();
  for (const auto& [topic, record] : records) {
    delivery.expect(1);
    try {
      bus_.producer->produce(topic, RD_KAFKA_PARTITION_UA, record, delivery);
    } catch (...) {
      delivery.forget(1);
      delivery.wait();
      throw;
    }
  }
  delivery.wait();
  if (delivery.failed()) throw PublishError(delivery.first_error(), delivery.first_error_retriable());
  finish(s, chosen, "replayed");
  return chosen.size();
}

std::size_t DeadLetterTopics::hand_over(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) {
  Scan s = scan(group);
  std::vector<const Found*> handed;
  try {
    for (const Found& f : s.live) {
      if (id && f.letter.event.id != *id) continue;
      // Undecodable, or written without its data (forward_error): no event to hand on.
      if (f.letter.event.id.empty() || f.letter.reason == wire_name(DeadLetterReason::forward_error)) continue;
      hand(f.letter);
      handed.push_back(&f);
    }
  } catch (...) {
    // Those handed over before are marked; if marking fails they are
    // handed over again next time (at least once).
    try {
      if (!handed.empty()) finish(s, handed, "moved");
    } catch (const std::exception&) {
    }
    throw;
  }
  if (!handed.empty()) finish(s, handed, "moved");
  return handed.size();
}

std::size_t DeadLetterTopics::purge(const std::string& group) {
  Scan s = scan(group);
  std::vector<const Found*> all;
  for (const Found& f : s.live) all.push_back(&f);
  if (all.empty()) return 0;
  finish(s, all, "purged");
  return all.size();
}

}  // namespace herald::kafka
