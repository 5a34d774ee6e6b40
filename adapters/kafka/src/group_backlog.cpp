#include "group_backlog.hpp"

#include <algorithm>

#include "herald/errors.hpp"

namespace herald::kafka {

GroupBacklog read_group_lag(BusServices& bus, const std::string& group, const std::string& pattern) {
  GroupBacklog b;
  b.known = true;
  const std::string group_id = bus.options.group_prefix + group;
  const int timeout_ms = static_cast<int>(bus.options.admin_timeout.count());
  ClientHooks hooks(bus.redactor);  // outlives the reader, its opaque
  // A reader with the group's id asks for its offsets without joining it.
  ConsumerPtr reader(
      make_client(RD_KAFKA_CONSUMER, make_conf(bus.options, ClientRole::reader, hooks, {{"group.id", group_id}}),
                  *bus.redactor)
          .release());
  const TopicSelection selection = bus.naming.select(pattern, group_id);
  auto topics = list_topics(reader.get(), bus.options.admin_timeout,
                            [&](const std::string& t) { return bus.naming.selected(selection, t); });
  PartitionListPtr list = make_partition_list();
  for (const auto& t : topics)
    for (int p = 0; p < t.partitions; ++p) rd_kafka_topic_partition_list_add(list.get(), t.topic.c_str(), p);
  if (!list->cnt) return b;
  if (rd_kafka_resp_err_t err = rd_kafka_committed(reader.get(), list.get(), timeout_ms); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw TransportError("kafka: cannot read the committed offsets of group '" + group + "': " + describe(err));
  for (int i = 0; i < list->cnt; ++i)
    if (list->elems[i].offset >= 0) b.exists = true;
  if (!b.exists) return b;  // nothing was ever committed: the group does not read here
  for (int i = 0; i < list->cnt; ++i) {
    const auto& tp = list->elems[i];
    std::int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(reader.get(), tp.topic, tp.partition, &low, &high, timeout_ms);
        err != RD_KAFKA_RESP_ERR_NO_ERROR)
      throw TransportError("kafka: cannot read the end of '" + std::string(tp.topic) + "': " + describe(err));
    // A partition the group has no offset for (a retry topic created after
    // it started) is read from its beginning: all of it is still to come.
    const std::int64_t from = tp.offset >= 0 ? std::max(tp.offset, low) : low;
    const auto lag = static_cast<std::uint64_t>(std::max<std::int64_t>(0, high - from));
    (bus.naming.is_event_topic(tp.topic) ? b.pending : b.retrying) += lag;
  }
  return b;
}

}  // namespace herald::kafka
