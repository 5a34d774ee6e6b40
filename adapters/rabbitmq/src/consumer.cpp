#include "consumer.hpp"

#include <algorithm>

#include "herald/log.hpp"

namespace herald::rabbitmq {

Consumer::Consumer(const Settings& settings, GroupServices services)
    : settings_(settings), services_(std::move(services)), loop_("consumer", settings, *this) {
  services_.wake_io = [this] { loop_.wake(); };
  services_.nudge_io = [this] { loop_.nudge(ack_delay); };
  services_.progressed = [this] { changed(); };
  services_.acks_to_broker = [this](Group& g) {
    loop_.call<void>([&](Connection* c) {
      if (c) acks_to_broker(*c, g);
    });
  };
}

void Consumer::changed() noexcept {
  if (watchers_.load() == 0) return;
  {
    std::lock_guard lock(changes_mutex_);
    ++changes_;
  }
  changes_cv_.notify_all();
}

std::uint64_t Consumer::Watch::changes() const {
  std::lock_guard lock(c_.changes_mutex_);
  return c_.changes_;
}

void Consumer::Watch::wait(std::uint64_t seen, std::chrono::steady_clock::time_point until) const {
  std::unique_lock lock(c_.changes_mutex_);
  c_.changes_cv_.wait_until(lock, until, [&] { return c_.changes_ != seen; });
}

Consumer::~Consumer() { stop(); }

void Consumer::start_loop() {
  std::lock_guard lock(start_mutex_);
  if (stopped_) throw ClosedError("rabbitmq: bus is closed");
  if (started_) return;
  loop_.start();
  started_ = true;
}

Subscription Consumer::subscribe(const SubscribeSpec& spec, Invoker invoke) {
  start_loop();
  auto member = std::make_shared<Member>();
  member->id = ++member_ids_;
  member->pattern = spec.pattern;
  member->invoke = std::move(invoke);
  member->retry = spec.retry;
  member->concurrency = spec.concurrency;
  const std::string name = spec.group;

  loop_.call<void>([&](Connection* c) {
    if (!c)
      throw TransportError("rabbitmq: cannot subscribe group '" + name + "': not connected to the broker (" +
                           loop_.last_error() + ")");
    auto& slot = groups_[name];
    if (!slot) slot = std::make_shared<Group>(name, services_.topology.group_queue(name), services_, spec.ephemeral);
    std::shared_ptr<Group> g = slot;
    g->add(member);
    try {
      if (!g->consuming()) {
        setup(*c, *g);
      } else {
        if (!g->bound.count(spec.pattern)) {
          services_.topology.bind(*c, g->channels[Group::main_channel].channel, g->queue(), spec.pattern);
          g->bound.insert(spec.pattern);
        }
        if (g->prefetch() != g->channels[Group::main_channel].prefetch) consume(*c, *g, Group::main_channel);
      }
    } catch (...) {
      if (!g->remove(member)) {
        forget_channels(c, *g);
        groups_.erase(name);
      }
      throw;
    }
  });

  std::weak_ptr<Consumer> weak = weak_from_this();
  return Subscription([weak, member, name] {
    if (auto self = weak.lock()) self->unsubscribe(member, name);
  });
}

void Consumer::unsubscribe(const std::shared_ptr<Member>& member, const std::string& name) {
  {
    std::lock_guard lock(start_mutex_);
    if (stopped_ || !started_) return;
  }
  // Handlers of this subscription on other threads finish first; one
  // calling cancel() from inside itself is not waited for.
  member->gate.close();
  auto g = loop_.call<std::shared_ptr<Group>>([&](Connection*) {
    auto it = groups_.find(name);
    return it == groups_.end() ? nullptr : it->second;
  });
  if (!g) return;
  if (g->remove(member)) {
    loop_.call<void>([&](Connection* c) {
      if (c && g->consuming() && g->prefetch() != g->channels[Group::main_channel].prefetch) consume(*c, *g, Group::main_channel);
    });
    return;
  }
  // The last member left: finish running handlers, ack them, stop consuming.
  // The broker requeues what was delivered and not handled.
  g->close_intake();
  loop_.call<void>([&](Connection* c) {
    auto it = groups_.find(name);
    if (it == groups_.end() || it->second != g) return;
    if (g->has_members()) {  // someone subscribed to the group meanwhile
      g->reopen_intake();
      return;
    }
    if (c) send_acks(*c, *g);
    forget_channels(c, *g);
    groups_.erase(it);
  });
  if (g->workers().on_worker_thread()) {
    std::lock_guard lock(retired_mutex_);
    retired_.push_back(std::move(g));  // its threads are joined from another thread, at stop()
  } else {
    g->workers().stop();
  }
}

bool Consumer::drained() {
  {
    std::lock_guard lock(start_mutex_);
    if (!started_ || stopped_) return true;
  }
  return loop_.call<bool>([&](Connection* c) {
    if (!c) return false;
    for (const auto& [name, g] : groups_) send_acks(*c, *g);  // do not wait for a batch
    for (const auto& [name, g] : groups_) {
      if (!g->has_members()) continue;
      if (!g->consuming() || g->has_acks() || g->workers().busy() > 0 || g->moving() > 0) return false;
      for (const GroupChannel& gc : g->channels)
        if (!gc.outstanding.empty()) return false;
    }
    // Retries waiting out their delay first: one that just expired is in the
    // group queue before the group queue is asked below.
    for (const auto& [name, g] : groups_) {
      for (const auto& q : g->retry_queues()) {
        if (probe_channel_ == 0 || !c->channel_open(probe_channel_)) {
          probe_channel_ = c->next_channel();
          c->open_channel(probe_channel_);
        }
        auto ready = Topology::ready_count(*c, probe_channel_, q);
        if (ready && *ready > 0) return false;
      }
    }
    // Asked twice on each consuming channel: deliveries a queue handed out
    // before the first answer arrive before the second one.
    for (const auto& [name, g] : groups_) {
      if (!g->has_members()) continue;
      for (int source = 0; source < g->channels_used(); ++source) {
        for (int i = 0; i < 2; ++i) {
          auto ready = Topology::ready_count(*c, g->channels[source].channel, g->queue_of(source));
          if (!ready) {  // the queue was deleted: declare it and consume again
            forget_channels(c, *g);
            try_setup(*c, *g);
            return false;
          }
          if (*ready > 0) return false;
        }
      }
    }
    return !amqp_frames_enqueued(c->get()) && !amqp_data_in_buffer(c->get());
  });
}

void Consumer::stop() {
  {
    std::lock_guard lock(start_mutex_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
  }
  auto groups = loop_.call<std::vector<std::shared_ptr<Group>>>([&](Connection*) {
    std::vector<std::shared_ptr<Group>> out;
    for (const auto& [name, g] : groups_) out.push_back(g);
    return out;
  });
  for (auto& g : groups) g->close_intake();
  loop_.call<void>([&](Connection* c) {
    for (auto& [name, g] : groups_) {
      try {
        if (c) send_acks(*c, *g);
        forget_channels(c, *g);
      } catch (const std::exception&) {
        forget_channels(nullptr, *g);
      }
    }
    groups_.clear();
  });
  for (auto& g : groups) g->workers().stop();
  loop_.stop();
  groups.clear();
  std::lock_guard lock(retired_mutex_);
  retired_.clear();
}

void Consumer::setup(Connection& c, Group& g) {
  const std::shared_ptr<Group>& shared = groups_.at(g.name());
  for (int source = 0; source < g.channels_used(); ++source) {
    GroupChannel& l = g.channels[source];
    l.channel = c.next_channel();
    c.open_channel(l.channel);
    by_channel_[l.channel] = {shared, source};
  }
  g.set_generation(++generations_);
  const amqp_channel_t ch = g.channels[Group::main_channel].channel;
  if (g.ephemeral()) {
    services_.topology.declare_ephemeral_queue(c, ch, g.queue());
  } else {
    services_.topology.declare_group_queue(c, ch, g.queue());
    services_.topology.declare(c, ch, *services_.topology.redelivered_decl(g.queue()));
  }
  g.bound.clear();
  for (const auto& p : g.patterns()) {
    services_.topology.bind(c, ch, g.queue(), p);
    g.bound.insert(p);
  }
  consume(c, g, Group::main_channel);
  if (g.channels_used() > Group::redelivered_channel) consume(c, g, Group::redelivered_channel);
  g.error.clear();
}

void Consumer::try_setup(Connection& c, Group& g) {
  try {
    setup(c, g);
  } catch (const ConnectionLost&) {
    throw;
  } catch (const std::exception& e) {
    // Kept for the caller of subscribe, retried on the next turn; said once per new error.
    if (g.error != e.what()) log(LogLevel::warn, "herald.rabbitmq", "queue '" + g.queue() + "': cannot set up: " + e.what());
    g.error = e.what();
    forget_channels(&c, g);
  }
}

void Consumer::consume(Connection& c, Group& g, int source) {
  GroupChannel& l = g.channels[source];
  const std::string queue = g.queue_of(source);
  // Per-consumer prefetch applies to consumers started after basic.qos, so a
  // new limit means a new consumer on the same channel (unacked deliveries
  // stay valid).
  if (!l.consumer_tag.empty()) {
    amqp_basic_cancel(c.get(), l.channel, bytes_of(l.consumer_tag));
    c.check(amqp_get_rpc_reply(c.get()), l.channel, "basic.cancel on queue '" + queue + "'");
    l.consumer_tag.clear();
  }
  const std::uint16_t prefetch = source == Group::main_channel ? g.prefetch() : 1;
  amqp_basic_qos(c.get(), l.channel, 0, prefetch, 0);
  c.check(amqp_get_rpc_reply(c.get()), l.channel, "basic.qos on queue '" + queue + "'");
  amqp_basic_consume_ok_t* ok =
      amqp_basic_consume(c.get(), l.channel, bytes_of(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  c.check(amqp_get_rpc_reply(c.get()), l.channel, "consuming from queue '" + queue + "'");
  l.consumer_tag = ok ? to_string(ok->consumer_tag) : std::string();
  l.prefetch = prefetch;
  share_channel_state(g);
}

void Consumer::forget_channels(Connection* c, Group& g) {
  for (GroupChannel& l : g.channels) {
    if (l.channel) {
      by_channel_.erase(l.channel);
      if (c && c->channel_open(l.channel)) c->close_channel(l.channel);
    }
    l = GroupChannel{};
  }
  share_channel_state(g);
  g.channel_lost();
}

void Consumer::send_acks(Connection& c, Group& g) {
  std::vector<Ack> acks = g.take_acks();
  if (acks.empty()) return;
  bool finished[2] = {false, false};
  for (const Ack& a : acks) {
    GroupChannel& l = g.channels[a.source];
    // From a channel that is gone: the broker has requeued it already.
    if (!l.channel || !c.channel_open(l.channel) || a.generation != g.generation()) continue;
    if (a.requeue) {
      if (l.outstanding.erase(a.tag))
        c.check_status(amqp_basic_nack(c.get(), l.channel, a.tag, 0, 1), "basic.nack");
    } else if (l.outstanding.finish(a.tag)) {
      finished[a.source] = true;
    }
  }
  for (int source = 0; source < 2; ++source) {
    if (!finished[source]) continue;
    GroupChannel& l = g.channels[source];
    for (const auto& [tag, multiple] : l.outstanding.take_acks())
      c.check_status(amqp_basic_ack(c.get(), l.channel, tag, multiple ? 1 : 0), "basic.ack");
  }
  share_channel_state(g);
  changed();
}

// An ack has no answer, and a process killed with this socket's send queue
// full loses it; basic.qos has one, and the broker answers a channel's
// methods in order. It restates the prefetch the channel's next consumer
// would get anyway.
void Consumer::acks_to_broker(Connection& c, Group& g) {
  send_acks(c, g);
  GroupChannel& l = g.channels[Group::main_channel];
  if (!l.channel || !c.channel_open(l.channel)) return;
  amqp_basic_qos(c.get(), l.channel, 0, l.prefetch, 0);
  c.check(amqp_get_rpc_reply(c.get()), l.channel, "basic.qos on queue '" + g.queue() + "'");
}

void Consumer::on_connected(Connection& c) {
  probe_channel_ = 0;
  for (auto& [name, g] : groups_)
    if (g->has_members()) try_setup(c, *g);
}

void Consumer::on_disconnected(const std::string&) {
  for (auto& [name, g] : groups_) {
    forget_channels(nullptr, *g);
    g->bound.clear();
  }
  by_channel_.clear();
  probe_channel_ = 0;
}

void Consumer::on_method(Connection& c, amqp_channel_t channel, const amqp_method_t& method) {
  if (method.id != AMQP_BASIC_CANCEL_METHOD) return;
  // The broker cancelled a consumer (its queue was deleted): declare and consume again.
  auto it = by_channel_.find(channel);
  if (it == by_channel_.end()) return;
  std::shared_ptr<Group> g = it->second.first;
  forget_channels(&c, *g);
  try_setup(c, *g);
}

void Consumer::on_channel_closed(Connection& c, amqp_channel_t channel, const std::string& error) {
  if (channel == probe_channel_) {
    probe_channel_ = 0;
    return;
  }
  auto it = by_channel_.find(channel);
  if (it == by_channel_.end()) return;
  std::shared_ptr<Group> g = it->second.first;
  // A channel error has an answer worth reading (a consumer_timeout, a queue
  // gone with its node): the bus consumes again, so say it happened.
  log(LogLevel::warn, "herald.rabbitmq",
      "group '" + g->name() + "': " + error + " (closed by the broker); consuming again on a new channel");
  forget_channels(&c, *g);
  g->error = error;
  try_setup(c, *g);
}

void Consumer::on_message(Connection&, amqp_method_number_t kind, Delivery&& message) {
  if (kind != AMQP_BASIC_DELIVER_METHOD) return;
  auto it = by_channel_.find(message.channel);
  if (it == by_channel_.end()) return;  // a channel we closed; the broker requeues it
  auto& [g, source] = it->second;
  GroupChannel& l = g->channels[source];
  l.outstanding.add(message.delivery_tag);
  g->set_channel_state(source, l.outstanding.size(), l.prefetch);
  g->deliver(source, std::move(message));
}

void Consumer::on_frames_done() {
  for (auto& [name, g] : groups_) g->hand_over();
  changed();
}

bool Consumer::on_idle(Connection* c) {
  bool any = false;
  const auto now = std::chrono::steady_clock::now();
  for (auto& [name, g] : groups_) {
    if (!c) {
      if (g->has_acks()) g->take_acks();  // no connection: they belong to channels that are gone
      continue;
    }
    // Batched like the raw client: one frame acks many deliveries.
    if (!g->acks_due() && !g->acks_overdue(now)) continue;
    any = true;
    send_acks(*c, *g);
  }
  return any;
}

bool Consumer::has_work() const {
  return std::any_of(groups_.begin(), groups_.end(), [](const auto& kv) { return kv.second->acks_due(); });
}

std::chrono::milliseconds Consumer::max_sleep() const {
  // Acks that are not due yet still go after ack_delay.
  bool waiting = std::any_of(groups_.begin(), groups_.end(), [](const auto& kv) { return kv.second->has_acks(); });
  return waiting ? ack_delay : std::chrono::milliseconds(200);
}

void Consumer::share_channel_state(Group& g) {
  for (int source = 0; source < 2; ++source) g.set_channel_state(source, g.channels[source].outstanding.size(), g.channels[source].prefetch);
}

}  // namespace herald::rabbitmq
