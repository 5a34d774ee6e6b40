#include "group_member.hpp"

#include <algorithm>
#include <thread>

#include "herald/errors.hpp"
#include "member_parts.hpp"

namespace herald::kafka {

GroupMember::GroupMember(PassKey, std::shared_ptr<BusServices> bus, const SubscribeSpec& spec, Invoker invoke)
    : ClientHooks(bus->redactor),
      bus_(std::move(bus)),
      spec_(spec),
      group_id_(bus_->options.group_prefix + spec.group),
      selection_(bus_->naming.select(spec.pattern, group_id_)),
      invoke_(std::move(invoke)),
      ephemeral_(spec.ephemeral),
      retry_topic_(bus_->options.retry_topic && !spec.ephemeral),
      tracker_(std::make_shared<Tracker>()),
      claim_(std::make_unique<GroupClaim>(bus_->options.brokers, group_id_, spec.pattern)) {
  pattern_.add(spec_.pattern, 1);
}

std::shared_ptr<GroupMember> GroupMember::start(std::shared_ptr<BusServices> bus, const SubscribeSpec& spec,
                                                Invoker invoke) {
  auto m = std::make_shared<GroupMember>(PassKey{}, std::move(bus), spec, std::move(invoke));
  const auto& options = m->bus_->options;
  // Every topic the subscription may write to is made now, in one round
  // trip, so no lane waits for the broker's admin: the retry topic (part of
  // the subscription: its first use does not rebalance the group) and the
  // dead-letter topic. A subscription to every family cannot know its
  // families yet: their retry and dead-letter topics are made by the bus's
  // topic creator when first needed.
  // An ephemeral subscription writes to neither: it makes only its event topic.
  if (!m->selection_.event_topic.empty()) {
    std::vector<std::string> topics{m->selection_.event_topic};
    if (!m->ephemeral_) topics.push_back(m->bus_->naming.dlq_topic(m->selection_.event_topic));
    if (m->retry_topic_) topics.push_back(m->bus_->naming.retry_topic(m->selection_.event_topic, m->group_id_));
    m->bus_->admin.ensure(topics);
  }

  ConfPtr conf = make_conf(options, ClientRole::consumer, *m, {{"group.id", m->group_id_}});
  rd_kafka_conf_set_rebalance_cb(conf.get(), member_detail::rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), member_detail::commit_cb);
  m->rk_ = make_client(RD_KAFKA_CONSUMER, std::move(conf), m->redactor());
  rd_kafka_poll_set_consumer(m->rk_.get());
  m->queue_.reset(rd_kafka_queue_get_consumer(m->rk_.get()));
  m->tracker_->low_water = options.max_in_flight / 2;
  {
    std::lock_guard lock(m->tracker_->room_mutex);
    m->tracker_->wake = m->queue_.get();
  }

  const std::size_t lanes = static_cast<std::size_t>(std::max(1, spec.concurrency));
  m->parked_.resize(lanes);
  m->lane_batches_.resize(lanes);
  GroupMember* self = m.get();
  m->lanes_ = std::make_unique<Lanes<LaneTask>>(lanes, [self](std::size_t lane, LaneTask& task) {
    try {
      self->run_lane(lane, task);
    } catch (const std::exception& ex) {
      // Not expected (records that cannot be decoded or encoded are dead
      // letters); should it happen the process lives on, and the record is
      // read again after the next rebalance.
      self->log(rd_kafka_name(self->rk_.get()), "LANE", "group '" + self->group_id_ + "': " + ex.what());
    }
  });

  // Part of subscribe: bounded by subscribe_timeout like the wait for partitions below.
  const auto give_up = std::chrono::steady_clock::now() + options.subscribe_timeout;
  for (;;) {
    try {
      m->place_start(give_up);
      break;
    } catch (const TransportError& ex) {
      if (ex.retriable() && std::chrono::steady_clock::now() < give_up) {
        // The broker away or a topic settling: ask again shortly, as librdkafka reconnects.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      m->stop();
      if (!ex.retriable()) throw;
      throw TimeoutError("kafka: group '" + m->group_id_ + "' could not find where it starts within " +
                         std::to_string(options.subscribe_timeout.count()) + " ms (is the broker at '" +
                         options.brokers + "' reachable?): " + ex.what());
    } catch (...) {
      m->stop();
      throw;
    }
  }

  auto topics = m->bus_->naming.subscription(m->selection_);
  if (m->ephemeral_) topics.resize(1);  // no retry topic of its own
  PartitionListPtr list = make_partition_list(static_cast<int>(topics.size()));
  for (const auto& t : topics) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(m->rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    m->stop();
    throw TransportError("kafka: group '" + m->group_id_ + "' cannot subscribe to '" + topics.front() + "': " + describe(err));
  }
  m->poller_ = std::thread([self] { self->poll_loop(); });

  // librdkafka joins the group only once the subscription names an existing
  // topic. A pattern matching no topic yet joins when the first appears
  // (this bus nudges it when it creates one); reading from the earliest
  // offset, it misses nothing meanwhile, so there is nothing to wait for.
  if (m->reads_every_topic()) {
    auto existing = list_topics(m->rk_.get(), options.admin_timeout,
                                [&](const std::string& t) { return m->bus_->naming.selected(m->selection_, t); });
    if (existing.empty()) return m;
  }
  bool assigned;
  {
    std::unique_lock lock(m->state_mutex_);
    assigned = m->state_changed_.wait_for(lock, options.subscribe_timeout, [&] { return m->assigned_; });
  }
  if (!assigned) {
    m->stop();
    throw TimeoutError("kafka: group '" + m->group_id_ + "' got no partition assignment within " +
                       std::to_string(options.subscribe_timeout.count()) + " ms (is the broker at '" +
                       options.brokers + "' reachable?)");
  }
  return m;
}

GroupMember::~GroupMember() { teardown(); }

bool GroupMember::reads_every_topic() const noexcept { return bus_->naming.is_open(selection_); }

void GroupMember::stop() {
  if (stopping_.exchange(true)) {
    if (!gate_.inside()) teardown();  // waits for a teardown in progress
    return;
  }
  if (gate_.inside()) {
    // Cannot wait for our own handler: finish on a bus thread.
    stop_polling_.store(true);
    bus_->defer([self = shared_from_this()] { self->teardown(); });
    return;
  }
  teardown();
}

void GroupMember::teardown() {
  std::lock_guard guard(teardown_mutex_);
  if (torn_down_) return;
  torn_down_ = true;
  stopping_.store(true);
  stop_polling_.store(true);
  tracker_->wake_poller();
  if (poller_.joinable()) poller_.join();
  gate_.close();               // running handlers return; no other starts
  if (lanes_) lanes_->stop();  // queued records are dropped
  for (auto& lane : parked_) lane.clear();
  drop_pending();
  if (!rk_) {
    claim_.reset();
    return;
  }
  // Dead letters and retries still being written finish, then the handled
  // offsets are committed and the group hears that we leave.
  release_partitions(true);
  {
    // Forwarded records still settling must not wake a queue that is gone.
    std::lock_guard room_lock(tracker_->room_mutex);
    tracker_->wake = nullptr;
  }
  std::unique_lock lock(client_mutex_);
  rd_kafka_assign(rk_.get(), nullptr);
  rd_kafka_consumer_close(rk_.get());
  queue_.reset();
  rk_.reset();
  claim_.reset();
  if (ephemeral_) delete_ephemeral_group();
}

void GroupMember::commit_soon() {
  commit_now_.store(true);
  std::shared_lock lock(client_mutex_);
  if (queue_) rd_kafka_queue_yield(queue_.get());
}

void GroupMember::refresh_topics() {
  std::shared_lock lock(client_mutex_);
  if (stopping_.load() || !rk_) return;
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(rk_.get(), 1, nullptr, &raw, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) MetadataPtr md(raw);
}

}  // namespace herald::kafka
