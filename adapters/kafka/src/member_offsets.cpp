#include "member_parts.hpp"

#include <algorithm>

#include "herald/errors.hpp"

namespace herald::kafka {

void GroupMember::commit(bool async) {
  PartitionListPtr list = make_partition_list();
  {
    std::lock_guard lock(tracker_->mutex);
    for (auto& [id, p] : partitions_) {
      std::int64_t next = p->window.committable();
      // A synchronous commit (rebalance, stop) does not trust an async one
      // still in flight: that may fail while the group rebalances.
      std::int64_t known = async ? p->commit_sent : p->committed;
      if (p->revoked || next < 0 || next <= known) continue;
      if (ephemeral_) {
        // Kept here, never on the broker: nothing outlives the subscription.
        positions_[{p->topic, p->id}] = next;
        p->commit_sent = p->committed = next;
        continue;
      }
      rd_kafka_topic_partition_list_add(list.get(), p->topic.c_str(), p->id)->offset = next;
      p->commit_sent = next;
    }
  }
  if (!list->cnt) return;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0);
  if (!async || err != RD_KAFKA_RESP_ERR_NO_ERROR) on_commit(err, list.get());
}

void GroupMember::on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) {
  // The first report may be of the commit that placed a new group, which
  // another process's member may have refused by joining first: expected.
  const bool placing = outside_commit_.exchange(false);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET && !placing)
    log(rd_kafka_name(rk_.get()), "COMMIT", "group '" + group_id_ + "': " + describe(err));
  if (!offsets) return;
  std::lock_guard lock(tracker_->mutex);
  for (int i = 0; i < offsets->cnt; ++i) {
    const auto& tp = offsets->elems[i];
    auto it = partitions_.find({tp.topic, tp.partition});
    if (it == partitions_.end()) continue;
    Partition& p = *it->second;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      p.commit_sent = p.committed;  // sent again at the next interval
    } else {
      p.committed = std::max(p.committed, tp.offset);
    }
  }
}

void GroupMember::release_partitions(bool commit_first) {
  {
    std::unique_lock lock(tracker_->mutex);
    // Records not started yet are left to the next owner: a member with
    // full lanes would otherwise hold the whole group up while it works
    // through them. Running handlers finish (and dead letters being written,
    // and records before a started one, so the commit covers all this member
    // handled and the next owner repeats none). Records waiting for a retry
    // are given up.
    for (auto& [id, p] : partitions_) p->releasing = true;
    tracker_->draining = true;
    tracker_->drained.wait_for(lock, bus_->options.drain_timeout, [&] {
      return std::all_of(partitions_.begin(), partitions_.end(), [](const auto& e) { return e.second->pending == 0; });
    });
    tracker_->draining = false;
  }
  if (commit_first) commit(false);
  PartitionListPtr resume = make_partition_list();
  {
    std::lock_guard lock(tracker_->mutex);
    for (auto& [id, p] : partitions_) {
      p->revoked = true;
      if (p->paused) rd_kafka_topic_partition_list_add(resume.get(), p->topic.c_str(), p->id);
    }
  }
  if (resume->cnt) rd_kafka_resume_partitions(rk_.get(), resume.get());
  partitions_.clear();
}

void GroupMember::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* list) {
  // Records taken in this poll round but not handed out yet belong to the
  // old assignment; their offsets were not counted, so nothing is lost.
  drop_pending();
  last_rkt_ = nullptr;
  last_partition_.reset();
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      partitions_[{tp.topic, tp.partition}] =
          std::make_shared<Partition>(tracker_, tp.topic, tp.partition, !bus_->naming.is_event_topic(tp.topic));
    }
    if (ephemeral_) place_assignment(list);
    rd_kafka_assign(rk_.get(), list);
    if (backpressure_) pause_dirty_.store(true);  // the new partitions wait for the lanes too
    std::lock_guard lock(state_mutex_);
    assigned_ = true;
    rebalancing_ = false;
    state_changed_.notify_all();
    return;
  }
  {
    std::lock_guard lock(state_mutex_);
    rebalancing_ = true;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    release_partitions(!rd_kafka_assignment_lost(rk_.get()));
  } else {
    log(rd_kafka_name(rk_.get()), "REBALANCE", "group '" + group_id_ + "': " + describe(err));
    release_partitions(false);
  }
  rd_kafka_assign(rk_.get(), nullptr);
}

namespace {

GroupMember& member_of(void* opaque) { return *static_cast<GroupMember*>(static_cast<ClientHooks*>(opaque)); }

}  // namespace

void member_detail::rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  member_of(opaque).on_rebalance(err, partitions);
}

void member_detail::commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  member_of(opaque).on_commit(err, offsets);
}

bool GroupMember::caught_up(std::chrono::milliseconds timeout) {
  std::shared_lock client_lock(client_mutex_);
  if (stopping_.load() || !rk_) return true;
  if (tracker_->in_flight.load(std::memory_order_acquire) > 0) return false;
  std::vector<TopicPartitions> topics;
  try {
    topics = list_topics(rk_.get(), timeout, [&](const std::string& t) { return bus_->naming.selected(selection_, t); });
  } catch (const Error&) {
    return false;
  }
  if (topics.empty()) return true;  // a pattern with nothing to read yet
  {
    std::lock_guard lock(state_mutex_);
    if (!assigned_ || rebalancing_) return false;
  }
  PartitionListPtr list = make_partition_list();
  for (const auto& t : topics)
    for (int p = 0; p < t.partitions; ++p) rd_kafka_topic_partition_list_add(list.get(), t.topic.c_str(), p);
  if (!list->cnt) return true;
  if (ephemeral_) {
    std::lock_guard lock(tracker_->mutex);
    for (int i = 0; i < list->cnt; ++i) {
      auto it = positions_.find({list->elems[i].topic, list->elems[i].partition});
      list->elems[i].offset = it == positions_.end() ? -1 : it->second;
    }
  } else if (rd_kafka_committed(rk_.get(), list.get(), static_cast<int>(timeout.count())) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return false;
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& tp = list->elems[i];
    std::int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk_.get(), tp.topic, tp.partition, &low, &high,
                                         static_cast<int>(timeout.count())) != RD_KAFKA_RESP_ERR_NO_ERROR)
      return false;
    if (tp.offset < 0 ? high > low : tp.offset < high) return false;
  }
  return tracker_->in_flight.load(std::memory_order_acquire) == 0;
}

}  // namespace herald::kafka
