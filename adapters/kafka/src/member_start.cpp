#include "member_parts.hpp"

#include "herald/errors.hpp"

namespace herald::kafka {

PartitionEnds GroupMember::topic_ends(std::chrono::steady_clock::time_point deadline) {
  auto topics = list_topics(rk_.get(), std::chrono::milliseconds(ms_until(deadline)), [&](const std::string& t) {
    return bus_->naming.is_event_topic(t) && bus_->naming.selected(selection_, t);
  });
  return partition_ends(rk_.get(), topics, deadline, "group '" + group_id_ + "' cannot read where its topics end");
}

void GroupMember::place_start(std::chrono::steady_clock::time_point deadline) {
  if (spec_.start == StartFrom::earliest) return;  // no offset: auto.offset.reset=earliest, positions_ empty
  if (ephemeral_) {
    auto ends = topic_ends(deadline);
    std::lock_guard lock(tracker_->mutex);
    positions_ = std::move(ends);
    return;
  }
  // The ends are read before the group's offsets: a process that places the
  // same new group at the same time commits before it joins, so either this
  // one sees that commit, or its ends were read before the other's
  // subscribe returned (and it misses nothing published after that).
  auto ends = topic_ends(deadline);
  if (ends.empty()) return;  // topics made from now on are read from their beginning
  PartitionListPtr list = make_partition_list(static_cast<int>(ends.size()));
  for (const auto& [tp, end] : ends) rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second);
  if (rd_kafka_resp_err_t err = rd_kafka_committed(rk_.get(), list.get(), ms_until(deadline));
      err != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw TransportError("kafka: group '" + group_id_ + "' cannot read its committed offsets: " + describe(err) +
                             broker_error_suffix(rk_.get()),
                         settles(err));
  for (int i = 0; i < list->cnt; ++i)
    if (list->elems[i].offset >= 0) return;  // not new: it goes on from its offsets, whatever `start` says
  for (int i = 0; i < list->cnt; ++i) {
    auto& tp = list->elems[i];
    tp.offset = ends[{tp.topic, tp.partition}];
  }
  // Committed outside the group (no member yet): the broker refuses it once
  // another process's member joined, which placed the group itself.
  outside_commit_.store(true);
  if (rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), 0);
      err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID &&
      err != RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION && err != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
    throw TransportError("kafka: group '" + group_id_ + "' cannot commit where it starts: " + describe(err) +
                             broker_error_suffix(rk_.get()),
                         settles(err));
}

void GroupMember::place_assignment(rd_kafka_topic_partition_list_t* list) {
  std::lock_guard lock(tracker_->mutex);
  for (int i = 0; i < list->cnt; ++i) {
    auto& tp = list->elems[i];
    auto it = positions_.find({tp.topic, tp.partition});
    // A partition it never read: a topic made after subscribe (all of it came
    // after), or StartFrom::earliest.
    tp.offset = it != positions_.end() ? it->second : RD_KAFKA_OFFSET_BEGINNING;
  }
}

void GroupMember::delete_ephemeral_group() {
  // The member left: the group is empty and has no offsets. The broker would
  // drop it at its next clean-up; deleting it now leaves nothing to list.
  rd_kafka_t* client = bus_->producer->handle();
  if (!client) return;
  char errstr[256] = {0};
  AdminOptionsPtr admin(rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_DELETEGROUPS));
  rd_kafka_AdminOptions_set_request_timeout(admin.get(), 5000, errstr, sizeof errstr);
  QueuePtr queue(rd_kafka_queue_new(client));
  rd_kafka_DeleteGroup_t* group = rd_kafka_DeleteGroup_new(group_id_.c_str());
  rd_kafka_DeleteGroups(client, &group, 1, admin.get(), queue.get());
  rd_kafka_DeleteGroup_destroy(group);
  EventPtr answer(rd_kafka_queue_poll(queue.get(), 6000));  // best effort: an answer or not, we are done
}

void GroupMember::drop_dead_letter(ItemPtr& item, DeadLetterReason reason) {
  const DeliveryState& state = item->state;
  const std::string what = item->event().id.empty() ? std::string("a record that cannot be decoded")
                                                  : "event '" + item->event().id + "' (" + item->event().type + ")";
  log(rd_kafka_name(rk_.get()), "DEADLETTER",
      "ephemeral subscription '" + group_id_ + "': " + what + " from '" + state.origin_topic + "' partition " +
          std::to_string(state.origin_partition) + " offset " + std::to_string(state.origin_offset) + " dead-lettered (" +
          std::string(wire_name(reason)) + ", " + std::to_string(state.attempts) + " attempts" +
          (state.last_error.empty() ? std::string() : ": " + state.last_error) +
          "); an ephemeral subscription keeps no dead letters",
      LogLevel::error);
  std::lock_guard lock(tracker_->mutex);
  if (!item->partition->revoked) item->partition->window.finish(item->offset);
  item->uncount();
}

}  // namespace herald::kafka
