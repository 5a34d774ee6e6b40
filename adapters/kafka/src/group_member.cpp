#include "group_member.hpp"

#include <algorithm>
#include <functional>
#include <pthread.h>
#include <thread>

#include "herald/errors.hpp"
#include "dead_letter_topics.hpp"
#include "offset_window.hpp"

namespace herald::kafka {

namespace {

// The member whose handler runs on this thread (to detect a cancel from
// inside its own handler).
thread_local const GroupMember* running_member = nullptr;

constexpr std::size_t poll_batch = 1000;
// librdkafka's poll takes an int of milliseconds; a long commit interval is
// waited for in several polls.
constexpr std::chrono::milliseconds max_poll_wait{10'000};
// How long full lanes may keep the poll thread waiting before the member
// pauses its partitions and polls again (for the group's sake).
constexpr std::chrono::milliseconds backpressure_patience{100};
constexpr std::chrono::seconds produce_retry_delay{1};

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

/// Counts shared by the member, its partitions and work in flight.
struct GroupMember::Tracker {
  std::mutex mutex;                   // guards every Partition's progress fields
  std::condition_variable drained;    // some partition's pending count reached 0
  bool draining = false;              // someone waits on `drained` (guarded by mutex)
  std::atomic<std::size_t> in_flight{0};  // records taken and not finished or dropped

  // Back-pressure: the poll thread waits for in_flight to fall to low_water,
  // and records settling wake it then (never a wake-up per record otherwise).
  std::size_t low_water = 0;
  std::atomic<bool> want_room{false};
  std::mutex room_mutex;
  std::condition_variable room;
  rd_kafka_queue_t* wake = nullptr;  // guarded by room_mutex: ends the poll thread's poll

  // With mutex held: one pending record of a partition is settled.
  void release(int& pending) {
    if (--pending == 0 && draining) drained.notify_all();
  }
  /// A record is finished or dropped.
  void settled() {
    if (in_flight.fetch_sub(1) - 1 <= low_water && want_room.load()) wake_poller();
  }
  void wake_poller() {
    std::lock_guard lock(room_mutex);
    room.notify_all();
    if (wake) rd_kafka_queue_yield(wake);
  }
};

/// One assigned partition. Progress fields are guarded by tracker->mutex.
struct GroupMember::Partition {
  Partition(std::shared_ptr<Tracker> t, std::string name, std::int32_t partition, bool retry)
      : tracker(std::move(t)), topic(std::move(name)), id(partition), retry_topic(retry) {}
  const std::shared_ptr<Tracker> tracker;
  const std::string topic;
  const std::int32_t id;
  const bool retry_topic;

  bool revoked = false;  // given up: records still here are dropped, results no longer count
  // Being given up: records not started yet are left to the next owner,
  // unless one after them already started (the commit must cover it).
  bool releasing = false;
  std::int64_t highest_started = -1;
  OffsetWindow window;
  std::int64_t commit_sent = -1;
  std::int64_t committed = -1;
  // Records that will settle by themselves: queued on a lane, in a handler,
  // or waiting for a produce report. A rebalance waits for them. Not
  // counted: records waiting for a retry, and those queued behind them.
  int pending = 0;
  int waiting = 0;  // records waiting for a retry: the partition is paused
  bool paused = false;  // poll thread only: what librdkafka was told
};

/// One record on its way through the member.
struct GroupMember::Item {
  explicit Item(PartitionPtr p) : partition(std::move(p)) {
    partition->tracker->in_flight.fetch_add(1, std::memory_order_acq_rel);
  }
  ~Item() {
    if (counted) {
      std::lock_guard lock(partition->tracker->mutex);
      partition->tracker->release(partition->pending);
    }
    if (!handed_off) partition->tracker->settled();
  }
  // With tracker->mutex held: the record is (no longer) pending.
  void count() {
    if (!counted) ++partition->pending;
    counted = true;
  }
  void uncount() {
    if (counted) partition->tracker->release(partition->pending);
    counted = false;
  }
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;

  PartitionPtr partition;
  std::int64_t offset = -1;
  std::string park_key;
  /// The record as taken from librdkafka, decoded on the lane and kept
  /// while the record is here: when it cannot be decoded, or its event not
  /// encoded again for the retry or dead-letter topic, its bytes go to the
  /// dead letter.
  MessagePtr message;
  bool decoded = false;
  Envelope event;
  std::string decode_error;  // set: the record could not be decoded
  // Failed runs so far (counting earlier deliveries, from a retry topic's
  // headers), when the record may run again, and where it first arrived.
  DeliveryState state;
  int runs_here = 0;  // handler runs of this delivery
  bool counted = false;     // in its partition's pending count
  bool handed_off = false;  // a produce report finishes it, not this object
};

/// What goes to the dead-letter topic when the retry or dead-letter topic
/// refuses a record for good: the dead letter without the event's data.
struct GroupMember::Fallback {
  std::string topic;  // the dead-letter topic
  std::string key;
  Envelope event;       // its attributes, no data; empty id for a record that was not decoded
  std::string type;     // the event's type, for the metrics (also when `event` is left empty)
  DeliveryState state;  // the record's story so far (attempts, errors, origin)
  bool counted = false;  // the dead letter is in the metrics already
};

// ---------------------------------------------------------------- start/stop

namespace {

void rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions, void* opaque);
void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, void* opaque);

}  // namespace

GroupMember::GroupMember(PassKey, std::shared_ptr<BusServices> bus, const SubscribeSpec& spec, Invoker invoke)
    : ClientHooks(bus->redactor),
      bus_(std::move(bus)),
      spec_(spec),
      group_id_(bus_->options.group_prefix + spec.group),
      selection_(bus_->naming.select(spec.pattern, group_id_)),
      invoke_(std::move(invoke)),
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
  if (!m->selection_.event_topic.empty()) {
    std::vector<std::string> topics{m->selection_.event_topic, m->bus_->naming.dlq_topic(m->selection_.event_topic)};
    if (options.retry_topic) topics.push_back(m->bus_->naming.retry_topic(m->selection_.event_topic, m->group_id_));
    m->bus_->admin.ensure(topics);
  }

  ConfPtr conf = make_conf(options, ClientRole::consumer, *m, {{"group.id", m->group_id_}});
  rd_kafka_conf_set_rebalance_cb(conf.get(), rebalance_cb);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), commit_cb);
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

  auto topics = m->bus_->naming.subscription(m->selection_);
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
    if (running_member != this) teardown();  // waits for a teardown in progress
    return;
  }
  if (running_member == this) {
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
  if (lanes_) lanes_->stop();  // running handlers return, queued records are dropped
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
}

// ---------------------------------------------------------------- polling

void GroupMember::poll_loop() {
  pthread_setname_np(pthread_self(), "herald-poll");
  auto last_commit = std::chrono::steady_clock::now();
  while (!stop_polling_.load(std::memory_order_acquire)) {
    if (pause_dirty_.exchange(false)) apply_pauses();
    auto now = std::chrono::steady_clock::now();
    if (commit_now_.exchange(false) || now - last_commit >= bus_->options.commit_interval) {
      commit(true);
      last_commit = now;
    }
    // Back-pressure: at max_in_flight records not finished, take no more
    // until half are done. Lanes that drain fast (the usual case) get there
    // in moments: wait for that, keeping what librdkafka has fetched
    // already (a pause drops it, and fetching it again costs far more).
    // Lanes that stay full: pause every partition and keep polling, so
    // rebalances are served and the group does not evict a member that is
    // only busy.
    const std::size_t limit = bus_->options.max_in_flight;
    Tracker& t = *tracker_;
    if (backpressure_) {
      if (t.in_flight.load() <= t.low_water) {
        backpressure_ = false;
        t.want_room.store(false);
        apply_pauses();
      }
    } else if (t.in_flight.load() >= limit) {
      t.want_room.store(true);
      {
        std::unique_lock lock(t.room_mutex);
        t.room.wait_for(lock, backpressure_patience,
                        [&] { return stop_polling_.load() || t.in_flight.load() <= t.low_water; });
      }
      if (t.in_flight.load() > t.low_water) {
        // Paused: the record that brings in_flight down to low_water ends the poll below.
        backpressure_ = true;
        apply_pauses();
      } else {
        t.want_room.store(false);
      }
    }
    // Everything else that needs this thread ends the poll (stop, pauses,
    // commit_soon, room under back-pressure): only the commit interval is a timer.
    auto wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                               last_commit + bus_->options.commit_interval - std::chrono::steady_clock::now()),
                           std::chrono::milliseconds(0), max_poll_wait);
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk_.get(), static_cast<int>(wait.count()));
    std::size_t n = 0;
    while (raw) {
      take(MessagePtr(raw));
      if (++n >= poll_batch || stop_polling_.load(std::memory_order_relaxed)) break;
      raw = rd_kafka_consumer_poll(rk_.get(), 0);
    }
    dispatch();
  }
}

void GroupMember::on_message_error(const rd_kafka_message_t& message) {
  switch (message.err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:  // a subscribed topic not created yet
      return;
    default:
      log(rd_kafka_name(rk_.get()), "CONSUME",
          "group '" + group_id_ + "': " + describe(message.err) + ": " + rd_kafka_message_errstr(&message));
  }
}

std::size_t GroupMember::lane_for(std::string_view key) const {
  return lanes_->size() == 1 ? 0 : std::hash<std::string_view>{}(key) % lanes_->size();
}

void GroupMember::take(MessagePtr message) {
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    on_message_error(*message);
    return;
  }
  // Records come in runs from one partition: look it up once per run.
  if (message->rkt != last_rkt_ || message->partition != last_partition_id_) {
    auto found = partitions_.find({rd_kafka_topic_name(message->rkt), message->partition});
    if (found == partitions_.end()) return;  // from a partition given up a moment ago
    last_rkt_ = message->rkt;
    last_partition_id_ = message->partition;
    last_partition_ = found->second;
  }
  const PartitionPtr& partition = last_partition_;

  auto item = std::make_unique<Item>(partition);
  item->offset = message->offset;
  // Records of one key share a lane (and so run in order); records without
  // a key keep their partition's order. herald writes partitionkey as key.
  std::string_view key(static_cast<const char*>(message->key), message->key ? message->key_len : 0);
  std::string base = key.empty() ? partition->topic + "/" + std::to_string(partition->id) : std::string(key);
  std::size_t lane = lane_for(base);
  // A record waiting in the retry topic must not hold up its key's new records.
  item->park_key = partition->retry_topic ? "retry\x1f" + base : std::move(base);
  item->message = std::move(message);
  taken_.emplace_back(partition.get(), item->offset);
  lane_batches_[lane].push_back(LaneTask{std::move(item), {}});
}

bool GroupMember::decode(Item& item) {
  item.decoded = true;
  const rd_kafka_message_t& m = *item.message;
  const Partition& partition = *item.partition;
  std::string_view key(static_cast<const char*>(m.key), m.key ? m.key_len : 0);
  std::string_view value(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  HeaderViews headers = read_headers(&m);
  try {
    item.event = decode_record(key, value, headers, bus_->decode);
  } catch (const std::exception& ex) {
    item.decode_error = ex.what();
  }
  if (item.decode_error.empty()) {
    thread_local std::vector<int> hits;
    hits.clear();
    pattern_.match(item.event.type, hits);
    if (hits.empty()) return false;  // not for this subscription
  }

  // Only herald writes retry topics; on an event topic such headers would
  // be someone else's.
  if (partition.retry_topic)
    item.state = DeliveryState::read_headers([&](std::string_view name) -> std::optional<std::string> {
      if (const HeaderView* h = find_header(headers, name)) return std::string(h->value);
      return std::nullopt;
    });
  if (item.state.origin_topic.empty()) {
    item.state.origin_topic = partition.retry_topic && !item.event.type.empty()
                                  ? bus_->naming.event_topic(item.event.type)
                                  : partition.topic;
    item.state.origin_partition = partition.id;
    item.state.origin_offset = item.offset;
  }
  return true;
}

void GroupMember::dispatch() {
  if (taken_.empty()) return;
  {
    std::lock_guard lock(tracker_->mutex);
    for (const auto& [partition, offset] : taken_) partition->window.take(offset);
    for (auto& batch : lane_batches_)
      for (auto& task : batch) task.item->count();
  }
  taken_.clear();
  for (std::size_t lane = 0; lane < lane_batches_.size(); ++lane)
    if (!lane_batches_[lane].empty() && !lanes_->push(lane, lane_batches_[lane])) lane_batches_[lane].clear();
}

void GroupMember::drop_pending() {
  taken_.clear();
  for (auto& batch : lane_batches_) batch.clear();
}

void GroupMember::apply_pauses() {
  PartitionListPtr pause = make_partition_list(), resume = make_partition_list();
  {
    std::lock_guard lock(tracker_->mutex);
    for (auto& [id, p] : partitions_) {
      bool want = (p->waiting > 0 || backpressure_) && !p->revoked;
      if (want == p->paused) continue;
      p->paused = want;
      rd_kafka_topic_partition_list_add(want ? pause.get() : resume.get(), p->topic.c_str(), p->id);
    }
  }
  if (pause->cnt) rd_kafka_pause_partitions(rk_.get(), pause.get());
  if (resume->cnt) rd_kafka_resume_partitions(rk_.get(), resume.get());
}

// ---------------------------------------------------------------- commits & rebalances

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
      rd_kafka_topic_partition_list_add(list.get(), p->topic.c_str(), p->id)->offset = next;
      p->commit_sent = next;
    }
  }
  if (!list->cnt) return;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), async ? 1 : 0);
  if (!async || err != RD_KAFKA_RESP_ERR_NO_ERROR) on_commit(err, list.get());
}

void GroupMember::on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
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

void rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  member_of(opaque).on_rebalance(err, partitions);
}

void commit_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  member_of(opaque).on_commit(err, offsets);
}

}  // namespace

// ---------------------------------------------------------------- flush support

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
  if (rd_kafka_committed(rk_.get(), list.get(), static_cast<int>(timeout.count())) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return false;
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

// ---------------------------------------------------------------- handling

void GroupMember::run_lane(std::size_t lane, LaneTask& task) {
  auto& parked = parked_[lane];
  if (task.item) {
    auto it = parked.find(task.item->park_key);
    if (it != parked.end()) {
      {
        std::lock_guard lock(tracker_->mutex);
        task.item->uncount();
      }
      it->second.push_back(std::move(task.item));  // its key waits for a retry: queue behind
      return;
    }
    if (attempt(lane, task.item) == Outcome::waiting) {
      std::string key = task.item->park_key;
      parked[key].push_back(std::move(task.item));
    }
    return;
  }
  auto it = parked.find(task.resume_key);
  if (it == parked.end()) return;
  auto& queue = it->second;
  {
    std::lock_guard lock(tracker_->mutex);
    --queue.front()->partition->waiting;
  }
  pause_dirty_.store(true);
  if (queue_) rd_kafka_queue_yield(queue_.get());
  while (!queue.empty()) {
    {
      std::lock_guard lock(tracker_->mutex);
      queue.front()->count();
    }
    if (attempt(lane, queue.front()) == Outcome::waiting) return;
    queue.pop_front();
  }
  parked.erase(it);
}

GroupMember::Outcome GroupMember::attempt(std::size_t lane, ItemPtr& item) {
  Partition& p = *item->partition;
  {
    std::lock_guard lock(tracker_->mutex);
    if (p.revoked) return Outcome::done;  // dropped: the next owner reads it again
    if (p.releasing && item->offset > p.highest_started) return Outcome::done;  // likewise, nothing after it ran
    p.highest_started = std::max(p.highest_started, item->offset);
  }
  auto finish = [&] {
    std::lock_guard lock(tracker_->mutex);
    if (!p.revoked) p.window.finish(item->offset);
    item->uncount();
  };
  if (!item->decoded && !decode(*item)) {
    finish();  // a type this subscription does not want: committed with the rest
    return Outcome::done;
  }

  if (item->state.not_before_ms > 0) {
    std::int64_t wait = item->state.not_before_ms - epoch_ms_now();
    item->state.not_before_ms = 0;
    if (wait > 0) {
      wait_then_resume(lane, *item, std::chrono::milliseconds(wait));
      return Outcome::waiting;
    }
  }
  // Verdicts reached without running the handler.
  if (!item->decode_error.empty()) {
    refuse(DeadLetterReason::decode_error, item->state, counters(item->event.type), item->decode_error);
    dead_letter(item, DeadLetterReason::decode_error);
    return Outcome::done;
  }
  if (exhausted(spec_.retry, item->state)) {  // from a retry topic, under a policy lowered since
    refuse(DeadLetterReason::max_attempts, item->state, counters(item->event.type));
    dead_letter(item, DeadLetterReason::max_attempts);
    return Outcome::done;
  }

  running_member = this;
  Attempt result = invoke_(item->event);
  running_member = nullptr;
  ++item->runs_here;
  const Verdict verdict = decide(spec_.retry, item->state, result, counters(item->event.type));
  switch (verdict.kind) {
    case Verdict::Kind::ack:
      finish();
      return Outcome::done;
    case Verdict::Kind::dead_letter:
      dead_letter(item, verdict.reason);
      return Outcome::done;
    case Verdict::Kind::retry:
      break;
  }
  if (bus_->options.retry_topic && item->runs_here >= bus_->options.in_process_attempts) {
    move_to_retry_topic(item, verdict.delay);
    return Outcome::done;
  }
  wait_then_resume(lane, *item, verdict.delay);
  return Outcome::waiting;
}

ConsumerCounters& GroupMember::counters(const std::string& type) const {
  return bus_->metrics->consumer(type, spec_.group);
}

void GroupMember::wait_then_resume(std::size_t lane, Item& item, std::chrono::milliseconds delay) {
  {
    std::lock_guard lock(tracker_->mutex);
    ++item.partition->waiting;
    item.uncount();
  }
  pause_dirty_.store(true);
  if (queue_) rd_kafka_queue_yield(queue_.get());
  std::weak_ptr<GroupMember> weak = weak_from_this();
  bus_->scheduler->run_after(delay, [weak, lane, key = item.park_key] {
    if (auto self = weak.lock(); self && !self->stopping_.load()) self->lanes_->push(lane, LaneTask{nullptr, key});
  });
}

namespace {

// The record as it arrived, for a dead letter: herald's own retry and
// dead-letter headers of an earlier hop are left out (the new ones follow).
void copy_raw(const rd_kafka_message_t& m, OutRecord& record) {
  record.key.clear();
  record.value.clear();
  record.headers.clear();
  if (m.key) record.key.assign(static_cast<const char*>(m.key), m.key_len);
  if (m.payload) record.value.assign(static_cast<const char*>(m.payload), m.len);
  for (const auto& h : read_headers(&m))
    if (!DeliveryState::is_bookkeeping(h.name)) record.headers.emplace_back(std::string(h.name), std::string(h.value));
}

}  // namespace

bool GroupMember::encode(Item& item, OutRecord& record) {
  try {
    encode_record(item.event, bus_->options.mode, record);
    return true;
  } catch (const std::exception& ex) {
    // A foreign record can decode and still not encode (a header that is
    // not UTF-8 for structured mode, data_base64 that is not base64 for
    // binary mode): it travels on as its bytes, like an undecodable one.
    item.decode_error = std::string("the event cannot be encoded again for the retry or dead-letter topic: ") + ex.what();
    if (!item.state.last_error.empty()) item.decode_error += " (the handler failed with: " + item.state.last_error + ")";
    item.state.last_error = item.decode_error;
    return false;
  }
}

void GroupMember::dead_letter(ItemPtr& item, DeadLetterReason reason) {
  auto record = std::make_shared<OutRecord>();
  // Counted already: a record that cannot be written again changes only the reason.
  if (item->decode_error.empty() && !encode(*item, *record)) reason = DeadLetterReason::decode_error;
  const bool decoded = item->decode_error.empty();
  if (!decoded) copy_raw(*item->message, *record);
  // The record holds the event now: the letter keeps its attributes only.
  Envelope attributes = std::move(item->event);
  attributes.data = std::string();
  DeadLetter d = dead_letter_for(attributes, spec_.group, item->state, reason);
  for (auto& [name, value] : d.to_headers()) record->headers.emplace_back(name, std::move(value));
  std::string topic = dlq_topic_for(*item, attributes.type);
  auto fallback = std::make_shared<Fallback>();
  fallback->topic = topic;
  fallback->key = record->key;
  fallback->type = attributes.type;
  if (decoded) fallback->event = std::move(attributes);
  fallback->state = std::move(item->state);
  fallback->counted = true;
  produce_reliably(topic, std::move(record), item, std::move(fallback));
}

void GroupMember::move_to_retry_topic(ItemPtr& item, std::chrono::milliseconds delay) {
  auto record = std::make_shared<OutRecord>();
  if (!encode(*item, *record)) {
    // Not retried after all: dead-lettered as it arrived.
    refuse(DeadLetterReason::decode_error, item->state, counters(item->event.type));
    return dead_letter(item, DeadLetterReason::decode_error);
  }
  item->state.not_before_ms = epoch_ms_now() + delay.count();
  item->state.write_headers(
      [&](std::string_view name, std::string value) { record->headers.emplace_back(std::string(name), std::move(value)); });
  item->state.not_before_ms = 0;
  const std::string event_topic = event_topic_for(*item, item->event.type);
  std::string topic = bus_->naming.retry_topic(event_topic, group_id_);

  auto fallback = std::make_shared<Fallback>();
  fallback->topic = bus_->naming.dlq_topic(event_topic);
  fallback->key = record->key;
  fallback->type = item->event.type;
  fallback->event = std::move(item->event);  // the record holds the data
  fallback->event.data = std::string();
  fallback->state = std::move(item->state);
  produce_reliably(topic, std::move(record), item, std::move(fallback));
}

std::string GroupMember::event_topic_for(const Item& item, const std::string& type) const {
  const std::string& origin = item.state.origin_topic;
  return bus_->naming.is_event_topic(origin) ? origin : bus_->naming.event_topic(type.empty() ? "unknown" : type);
}

std::string GroupMember::dlq_topic_for(const Item& item, const std::string& type) const {
  return bus_->naming.dlq_topic(event_topic_for(item, type));
}

void GroupMember::produce_reliably(const std::string& topic, std::shared_ptr<const OutRecord> record, ItemPtr& item,
                                   std::shared_ptr<const Fallback> fallback) {
  // From here the produce report settles the record (its pending and in-flight counts).
  item->handed_off = true;
  item->counted = false;
  retry_produce(topic, std::move(record), item->partition, item->offset, std::move(fallback), false);
}

void GroupMember::retry_produce(std::string topic, std::shared_ptr<const OutRecord> record, PartitionPtr partition,
                                std::int64_t offset, std::shared_ptr<const Fallback> fallback, bool last_resort) {
  if (bus_->creator.ready(topic)) return produce_now(std::move(topic), std::move(record), std::move(partition), offset,
                                                     std::move(fallback), last_resort);
  // A topic not made yet: the creator's thread makes it, and the lane goes on.
  std::weak_ptr<GroupMember> weak = weak_from_this();
  bus_->creator.when_ready(topic, [weak, topic, record, partition, offset, fallback, last_resort](const std::string& error) {
    auto self = weak.lock();
    if (!self || (self->stopping_.load() && error == TopicCreator::closing)) {
      // Uncommitted: the next owner handles it again.
      std::lock_guard lock(partition->tracker->mutex);
      partition->tracker->release(partition->pending);
      partition->tracker->settled();
      return;
    }
    // When it could not be made the write fails too and is tried again; say why once here.
    if (!error.empty() && !self->stopping_.load()) self->log(rd_kafka_name(self->rk_.get()), "TOPIC", error);
    self->produce_now(topic, record, partition, offset, fallback, last_resort);
  });
}

void GroupMember::produce_now(std::string topic, std::shared_ptr<const OutRecord> record, PartitionPtr partition,
                              std::int64_t offset, std::shared_ptr<const Fallback> fallback, bool last_resort) {
  std::weak_ptr<GroupMember> weak = weak_from_this();
  // Ends the record's bookkeeping here, whether it was written or not.
  auto release = [partition] {
    std::lock_guard lock(partition->tracker->mutex);
    partition->tracker->release(partition->pending);
    partition->tracker->settled();
  };
  // Errors that may clear (broker away, leader moving, timeout): the same
  // record again in a second, for as long as it takes.
  auto again = [weak, topic, record, partition, offset, fallback, last_resort, release](const std::string& why) {
    auto self = weak.lock();
    if (!self || self->stopping_.load()) return release();  // uncommitted: the next owner handles it again
    self->log(rd_kafka_name(self->rk_.get()), "PRODUCE",
              "group '" + self->group_id_ + "': cannot write to '" + topic + "' (" + why + "); trying again in 1 s");
    self->bus_->scheduler->run_after(produce_retry_delay, [weak, topic, record, partition, offset, fallback, last_resort, release] {
      auto s = weak.lock();
      if (!s || s->stopping_.load()) return release();
      s->retry_produce(topic, record, partition, offset, fallback, last_resort);
    });
  };
  // Errors that never clear: write the fallback or give up, off the
  // producer's thread (the write may wait for room in the producer's queue,
  // which only that thread frees).
  auto give_up = [weak, topic, partition, offset, fallback, last_resort, release](const std::string& why) {
    auto self = weak.lock();
    if (!self || self->stopping_.load()) return release();
    self->bus_->scheduler->run_after(std::chrono::milliseconds(0), [weak, topic, partition, offset, fallback, last_resort, release, why] {
      auto s = weak.lock();
      if (!s || s->stopping_.load()) return release();
      s->refused(topic, why, partition, offset, fallback, last_resort);
    });
  };
  try {
    bus_->producer->produce(topic, RD_KAFKA_PARTITION_UA, *record,
                            std::make_unique<CallbackDelivery>([partition, offset, again, give_up, release](rd_kafka_resp_err_t err) {
                              if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
                                return retriable(err) ? again(describe(err)) : give_up(describe(err));
                              {
                                std::lock_guard lock(partition->tracker->mutex);
                                if (!partition->revoked) partition->window.finish(offset);
                              }
                              release();
                            }));
  } catch (const ClosedError&) {
    release();  // the bus is closing: uncommitted, the next owner handles it again
  } catch (const Error& ex) {
    ex.retriable() ? again(ex.what()) : give_up(ex.what());
  } catch (const std::exception& ex) {
    again(ex.what());
  }
}

void GroupMember::refused(const std::string& topic, const std::string& why, PartitionPtr partition, std::int64_t offset,
                          std::shared_ptr<const Fallback> fallback, bool last_resort) {
  const DeliveryState& was = fallback->state;
  const std::string what = (fallback->event.id.empty() ? std::string("a record") : "event '" + fallback->event.id + "'") +
                           " (from '" + was.origin_topic + "' partition " + std::to_string(was.origin_partition) +
                           " offset " + std::to_string(was.origin_offset) + ")";
  if (last_resort) {
    log(rd_kafka_name(rk_.get()), "PRODUCE",
        "group '" + group_id_ + "': '" + topic + "' refuses the dead letter of " + what + " for good (" + why +
            "); the record is given up and its offset committed");
    {
      std::lock_guard lock(partition->tracker->mutex);
      if (!partition->revoked) partition->window.finish(offset);
      partition->tracker->release(partition->pending);
    }
    partition->tracker->settled();
    return;
  }
  log(rd_kafka_name(rk_.get()), "PRODUCE",
      "group '" + group_id_ + "': '" + topic + "' refuses " + what + " for good (" + why +
          "); writing its dead letter without the data to '" + fallback->topic + "'");
  DeliveryState state = was;
  // The cause first: the header keeps 4096 bytes.
  std::string error = "not written to '" + topic + "': " + why + "; dead-lettered without its data after: " + was.last_error;
  // A record on its way to the retry topic becomes a dead letter only now.
  if (fallback->counted) state.last_error = std::move(error);
  else refuse(DeadLetterReason::forward_error, state, counters(fallback->type), std::move(error));
  DeadLetter d = dead_letter_for(fallback->event, spec_.group, state, DeadLetterReason::forward_error);
  d.routing_key = fallback->type;

  auto record = std::make_shared<OutRecord>();
  if (!fallback->event.id.empty()) {
    // The attributes as ce_ headers keep the event's id and type visible;
    // without data it is not the event any more, so it is not replayed.
    Envelope attributes = fallback->event;
    attributes.data.clear();
    attributes.extensions.erase("database64");
    try {
      encode_record(attributes, BindingMode::binary, *record);
    } catch (const std::exception&) {
      record->headers.clear();  // an extension that cannot be written: the dead-letter headers still are
    }
  }
  record->key = fallback->key;
  record->value.clear();
  for (auto& [name, value] : d.to_headers()) record->headers.emplace_back(name, std::move(value));
  std::string dlq = fallback->topic;
  retry_produce(std::move(dlq), std::move(record), std::move(partition), offset, std::move(fallback), true);
}

}  // namespace herald::kafka
