#include "publisher.hpp"

#include <algorithm>
#include <optional>

#include "herald/codec.hpp"

namespace herald::rabbitmq {

struct Publisher::Batch {
  std::vector<OutMessage> messages;
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t remaining = 0;
  std::optional<Failure> error;  // the first
  std::atomic<bool> abandoned{false};  // the caller stopped waiting: unsent ones are dropped
  // Asynchronous batches: `done` is called once (under mutex: `completed`)
  // instead of waking a waiter, and `timer` is its entry in deadlines_ (I/O
  // thread, or stop() once the thread is gone).
  Done done;
  bool completed = false;
  std::optional<std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<Batch>>::iterator> timer;
};

Publisher::Failure Publisher::Failure::of(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return {e.code(), e.what(), e.retriable()};
  } catch (const std::exception& e) {
    return {ErrorCode::transport, e.what(), true};
  }
}

void Publisher::Failure::raise() const {
  switch (code) {
    case ErrorCode::config: throw ConfigError(message);
    case ErrorCode::not_found: throw NotFoundError(message);
    case ErrorCode::closed: throw ClosedError(message);
    case ErrorCode::timeout: throw TimeoutError(message);
    case ErrorCode::transport: throw TransportError(message, retriable);
    default: throw PublishError(message, retriable);
  }
}

Publisher::Publisher(const Settings& settings, const Topology& topology)
    : settings_(settings), topology_(topology), loop_("publisher", settings, *this) {}

Publisher::~Publisher() { stop(); }

void Publisher::start() { loop_.start(); }

void Publisher::stop() {
  if (stopped_.exchange(true)) return;
  loop_.stop();
  // The I/O thread is gone: what it did not finish fails.
  const Failure closed{ErrorCode::closed, "rabbitmq: the bus was closed before the broker confirmed", false};
  for (auto& s : queue_) finish(s, &closed);
  for (auto& s : unconfirmed_.take_open()) finish(s, &closed);
  queue_.clear();
  expire(std::chrono::steady_clock::time_point::max());  // batches abandoned before any slot failed
}

void Publisher::enqueue(const std::shared_ptr<Batch>& batch,
                        std::optional<std::chrono::steady_clock::time_point> deadline) {
  const std::size_t n = batch->messages.size();
  outstanding_.fetch_add(n);
  loop_.post([this, batch, n, deadline](Connection*) {
    if (stopped_.load() && !loop_.on_loop_thread()) {
      const Failure closed{ErrorCode::closed, "rabbitmq: bus is closed", false};
      for (std::size_t i = 0; i < n; ++i) finish(Slot{batch, i}, &closed);
      return;
    }
    if (deadline) batch->timer = deadlines_.emplace(*deadline, batch);
    for (std::size_t i = 0; i < n; ++i) queue_.push_back(Slot{batch, i});
  });
}

void Publisher::publish_async(std::vector<OutMessage> messages, std::chrono::milliseconds timeout, Done done) {
  if (messages.empty() || stopped_.load()) {
    done(messages.empty());
    return;
  }
  auto batch = std::make_shared<Batch>();
  batch->remaining = messages.size();
  batch->messages = std::move(messages);
  batch->done = std::move(done);
  enqueue(batch, std::chrono::steady_clock::now() + timeout);
}

void Publisher::publish(std::vector<OutMessage> messages, std::chrono::milliseconds timeout) {
  if (messages.empty()) return;
  if (stopped_.load()) throw ClosedError("rabbitmq: bus is closed");
  auto batch = std::make_shared<Batch>();
  const std::size_t n = messages.size();
  batch->messages = std::move(messages);
  batch->remaining = n;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  enqueue(batch, std::nullopt);

  std::unique_lock lock(batch->mutex);
  bool settled = batch->cv.wait_until(lock, deadline, [&] { return batch->remaining == 0 || batch->error; });
  if (batch->error) {
    batch->abandoned = true;
    Failure failure = *batch->error;
    lock.unlock();
    failure.raise();
  }
  if (settled) return;
  batch->abandoned = true;
  std::size_t left = batch->remaining;
  lock.unlock();
  std::string why;
  if (!loop_.connected()) why = "; the broker is unreachable (" + loop_.last_error() + "), still reconnecting";
  throw TimeoutError("rabbitmq: " + std::to_string(left) + " of " + std::to_string(n) +
                     " message(s) to exchange '" + topology_.exchange() + "' not confirmed by the broker within " +
                     std::to_string(timeout.count()) + " ms" + why);
}

bool Publisher::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(idle_mutex_);
  return idle_cv_.wait_until(lock, deadline, [&] { return outstanding_.load() == 0; });
}

void Publisher::finish(const Slot& slot, const Failure* failure) {
  Batch& b = *slot.batch;
  Done done;
  bool confirmed = false;
  {
    std::lock_guard lock(b.mutex);
    if (failure && !b.error) b.error = *failure;
    --b.remaining;
    if (b.done && !b.completed && (b.remaining == 0 || b.error)) {
      b.completed = true;
      confirmed = !b.error;
      if (!confirmed) b.abandoned = true;
      done = std::move(b.done);
    } else if (b.remaining == 0 || failure) {
      b.cv.notify_all();
    }
  }
  // Reported before it stops counting as outstanding: whoever waits for the
  // publisher to be idle then sees what the callback did.
  if (done) complete(b, std::move(done), confirmed);
  if (outstanding_.fetch_sub(1) == 1) {
    std::lock_guard lock(idle_mutex_);
    idle_cv_.notify_all();
  }
}

void Publisher::complete(Batch& b, Done done, bool confirmed) {
  if (b.timer) {
    auto timer = *b.timer;
    b.timer.reset();
    deadlines_.erase(timer);  // may release the batch's last owner but one: `b` stays alive through the slot
  }
  try {
    done(confirmed);
  } catch (const std::exception&) {
    // the callback's own business; the publisher goes on
  }
}

void Publisher::expire(std::chrono::steady_clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    std::shared_ptr<Batch> batch = deadlines_.begin()->second;
    Done done;
    {
      std::lock_guard lock(batch->mutex);
      if (!batch->completed) {
        batch->completed = true;
        batch->abandoned = true;  // what is not sent yet is dropped
        done = std::move(batch->done);
      }
    }
    if (done) {
      complete(*batch, std::move(done), false);
    } else {
      batch->timer.reset();
      deadlines_.erase(deadlines_.begin());
    }
  }
}

std::chrono::milliseconds Publisher::max_sleep() const {
  constexpr std::chrono::milliseconds longest{200};
  if (deadlines_.empty()) return longest;
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first - std::chrono::steady_clock::now());
  return std::clamp(wait, std::chrono::milliseconds(1), longest);
}

namespace {

// How long a channel to renew waits for its outstanding confirms; what is
// still unconfirmed then is sent again on the new channel (at-least-once).
constexpr std::chrono::seconds renew_wait{2};

}  // namespace

void Publisher::open_confirm_channel(Connection& c) {
  renew_ = false;
  channel_ = c.next_channel();
  c.open_channel(channel_);
  amqp_confirm_select(c.get(), channel_);
  c.check(amqp_get_rpc_reply(c.get()), channel_, "confirm.select");
}

void Publisher::on_connected(Connection& c) {
  open_confirm_channel(c);
  topology_.declare_exchange(c, channel_);
  declared_.clear();
}

// A RabbitMQ 3.x channel keeps, per quorum queue it publishes to, a client
// state built from the queue's record when it first routes there, listing
// the leader of that moment first, and never refreshes it. A channel opened
// while the queue elects a new leader (herald reconnects within milliseconds
// of a node's death) asks the dead node first on each publish and refuses
// (basic.nack) every publish to that queue until the dead node is back. The
// record names the new leader once elected, so a channel opened after a nack
// publishes again.
bool Publisher::renew_channel_when_drained(Connection& c) {
  if (unconfirmed_.open() != 0 && std::chrono::steady_clock::now() < renew_by_) return false;
  const amqp_channel_t old = channel_;
  on_disconnected("renewing the channel after a nack");  // what is still unconfirmed goes again
  c.close_channel(old);
  if (!c.usable()) c.check_status(AMQP_STATUS_CONNECTION_CLOSED, "closing channel " + std::to_string(old));
  open_confirm_channel(c);
  return true;
}

void Publisher::on_disconnected(const std::string&) {
  // Unconfirmed messages go out again, first and in their order, once the
  // connection is back: at-least-once.
  std::deque<Slot> resend = unconfirmed_.take_open();
  queue_.insert(queue_.begin(), std::make_move_iterator(resend.begin()), std::make_move_iterator(resend.end()));
  channel_ = 0;
}

void Publisher::on_channel_closed(Connection& c, amqp_channel_t channel, const std::string& error) {
  if (channel != channel_) return;
  // The oldest unconfirmed message is the likely culprit (an exchange that
  // vanished, no permission): it fails with the broker's reason, the rest go again.
  if (auto* p = unconfirmed_.oldest_open()) {
    unconfirmed_.drop(*p);
    const Failure failure{ErrorCode::publish, error, true};
    finish(p->slot, &failure);
  }
  on_disconnected(error);
  on_connected(c);
}

void Publisher::on_method(Connection&, amqp_channel_t channel, const amqp_method_t& method) {
  if (channel != channel_) return;
  auto settle = [this](Unconfirmed<Slot>::Entry& p, bool ack) { this->settle(p, ack); };
  if (method.id == AMQP_BASIC_ACK_METHOD) {
    const auto* m = static_cast<const amqp_basic_ack_t*>(method.decoded);
    unconfirmed_.confirm(m->delivery_tag, m->multiple != 0, true, settle);
  } else if (method.id == AMQP_BASIC_NACK_METHOD) {
    const auto* m = static_cast<const amqp_basic_nack_t*>(method.decoded);
    unconfirmed_.confirm(m->delivery_tag, m->multiple != 0, false, settle);
  }
}

void Publisher::on_message(Connection&, amqp_method_number_t kind, Delivery&& message) {
  if (kind != AMQP_BASIC_RETURN_METHOD || message.channel != channel_) return;
  if (message.exchange.empty()) declared_.erase(message.routing_key);  // the queue is gone: declare it again
  unconfirmed_.returned(Returned{message.reply_code, std::move(message.reply_text), std::move(message.exchange),
                                 std::move(message.routing_key), std::move(message.properties.message_id)});
}

void Publisher::settle(Unconfirmed<Slot>::Entry& p, bool ack) {
  const OutMessage& m = p.slot.batch->messages[p.slot.index];
  if (!ack) {
    if (!renew_) {
      renew_ = true;
      renew_by_ = std::chrono::steady_clock::now() + renew_wait;
    }
    const Failure failure{ErrorCode::publish,
                          "rabbitmq: the broker refused (basic.nack) message " + std::string(m.message_id()) +
                              " with routing key '" + std::string(m.routing_key()) + "' to exchange '" +
                              std::string(m.exchange()) +
                              "' (a queue is full with x-overflow=reject-publish, or the broker failed to store it)",
                          true};
    finish(p.slot, &failure);
  } else if (const auto& r = p.returned) {
    const std::string reason = std::to_string(r->reply_code) + " " + r->reply_text;
    std::string why;
    if (m.exchange().empty()) {
      why = "rabbitmq: queue '" + r->routing_key + "' does not exist (message " + r->message_id + " returned: " + reason +
            ")";
    } else {
      why = "rabbitmq: event " + r->message_id + " is unroutable: no queue is bound to exchange '" + r->exchange +
            "' for routing key '" + r->routing_key + "' (" + reason + "); subscribe a group first, or set unroutable=keep";
    }
    const Failure failure{ErrorCode::publish, std::move(why), false};
    finish(p.slot, &failure);
  } else {
    finish(p.slot);
  }
  p.slot.batch.reset();
}

bool Publisher::has_work() const {
  if (channel_ == 0) return false;
  if (renew_) return unconfirmed_.open() == 0;  // draining before the channel is renewed
  return !queue_.empty() && unconfirmed_.open() < static_cast<std::size_t>(settings_.options.confirm_window);
}

bool Publisher::on_idle(Connection* c) {
  if (!deadlines_.empty()) expire(std::chrono::steady_clock::now());
  if (!c || channel_ == 0) return false;
  if (renew_ && !renew_channel_when_drained(*c)) return false;
  const auto window = static_cast<std::size_t>(settings_.options.confirm_window);
  bool sent = false;
  while (!queue_.empty() && unconfirmed_.open() < window && channel_ != 0) {
    Slot s = std::move(queue_.front());
    queue_.pop_front();
    if (s.batch->abandoned.load(std::memory_order_relaxed)) {
      finish(s);  // its caller gave up (timeout or an earlier failure)
      continue;
    }
    const OutMessage& m = s.batch->messages[s.index];
    if (const QueueDecl* decl = m.ensure(); decl && (decl->refresh || !declared_.count(decl->name))) {
      try {
        topology_.declare(*c, channel_, *decl);
        declared_.insert(decl->name);
      } catch (const ConnectionLost&) {
        queue_.push_front(std::move(s));
        throw;
      } catch (const std::exception&) {
        const Failure failure = Failure::of(std::current_exception());
        finish(s, &failure);
        if (!c->channel_open(channel_)) {  // the failed declare closed the channel
          on_disconnected("declare failed");
          on_connected(*c);
        }
        continue;
      }
    }

    amqp_basic_properties_t props{};
    amqp_table_entry_t entries[2]{};
    if (const Properties* full = m.properties()) {
      full->fill(props);
    } else {
      props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
      props.content_type = bytes_of(cloudevents_json);
      props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
      props.message_id = bytes_of(m.message_id());
      int n = 0;
      auto put = [&](std::string_view name, std::string_view value) {
        if (value.empty()) return;
        entries[n].key = bytes_of(name);
        entries[n].value.kind = AMQP_FIELD_KIND_UTF8;
        entries[n].value.value.bytes = bytes_of(value);
        ++n;
      };
      put(header::partitionkey, m.partitionkey());
      put(header::traceparent, m.traceparent());
      if (n > 0) {
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers = amqp_table_t{n, entries};
      }
    }
    int rc = amqp_basic_publish(c->get(), channel_, bytes_of(m.exchange()), bytes_of(m.routing_key()),
                                m.mandatory() ? 1 : 0, 0, &props, bytes_of(m.body()));
    if (rc != AMQP_STATUS_OK) {
      queue_.push_front(std::move(s));
      c->check_status(rc, "publishing to exchange '" + topology_.exchange() + "'");
    }
    unconfirmed_.sent(std::move(s), m.exchange(), m.routing_key(), m.message_id());
    sent = true;
  }
  return sent;
}

}  // namespace herald::rabbitmq
