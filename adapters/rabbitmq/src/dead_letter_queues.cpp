#include "dead_letter_queues.hpp"

#include <chrono>
#include <string_view>
#include <thread>

#include "herald/codec.hpp"

namespace herald::rabbitmq {

namespace {

constexpr std::chrono::seconds leaderless_wait{10};

// More delay queues than any sane policy has attempts: backlog() stops there.
constexpr int max_retry_queues = 100;

}  // namespace

DeadLetterQueues::DeadLetterQueues(const Settings& settings, const Topology& topology, Publisher& publisher,
                                   DecodeOptions decode)
    : settings_(settings), topology_(topology), publisher_(publisher), decode_(decode), loop_("admin", settings, *this) {}

DeadLetterQueues::~DeadLetterQueues() { stop(); }

void DeadLetterQueues::stop() {
  std::lock_guard lock(start_mutex_);
  stopped_ = true;
  if (started_) loop_.stop();
}

void DeadLetterQueues::on_connected(Connection& c) {
  channel_ = c.next_channel();
  c.open_channel(channel_);
}

void DeadLetterQueues::on_disconnected(const std::string&) { channel_ = 0; }

amqp_channel_t DeadLetterQueues::channel(Connection& c) {
  if (channel_ == 0 || !c.channel_open(channel_)) {  // a passive declare of a missing queue closes it
    channel_ = c.next_channel();
    c.open_channel(channel_);
  }
  return channel_;
}

template <class R>
R DeadLetterQueues::run(std::function<R(Connection&, amqp_channel_t)> fn) {
  {
    std::lock_guard lock(start_mutex_);
    if (stopped_) throw ClosedError("rabbitmq: bus is closed");
    if (!started_) {
      loop_.start();
      started_ = true;
    }
  }
  // A quorum queue without a leader (just declared, or electing one after
  // a node died) refuses basic.get with 541 "noproc", closing the
  // connection; a leader comes within moments. Reading again is harmless:
  // what was fetched and not acked went back to the queue with the connection.
  // Until the loop has reconnected, tries fail as not connected: they wait too.
  const auto until = std::chrono::steady_clock::now() + leaderless_wait;
  bool leaderless = false;
  for (;;) {
    try {
      return loop_.call<R>([&](Connection* c) -> R {
        if (!c) throw TransportError("rabbitmq: not connected to the broker (" + loop_.last_error() + ")");
        return fn(*c, channel(*c));
      });
    } catch (const TransportError& e) {
      leaderless = leaderless || std::string_view(e.what()).find("noproc") != std::string_view::npos;
      if (!leaderless || std::chrono::steady_clock::now() >= until) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a pause before the next try, not synchronisation
  }
}

std::optional<DeadLetterQueues::Got> DeadLetterQueues::get(Connection& c, amqp_channel_t ch, const std::string& queue) {
  amqp_rpc_reply_t reply = amqp_basic_get(c.get(), ch, bytes_of(queue), 0);
  c.check(reply, ch, "basic.get from queue '" + queue + "'");
  if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return std::nullopt;  // basic.get-empty
  const auto* ok = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
  Got got;
  got.tag = ok->delivery_tag;
  got.message.delivery_tag = ok->delivery_tag;
  got.message.redelivered = ok->redelivered != 0;
  got.message.exchange = to_string(ok->exchange);
  got.message.routing_key = to_string(ok->routing_key);
  amqp_message_t message;
  c.check(amqp_read_message(c.get(), ch, &message, 0), ch, "reading a message from queue '" + queue + "'");
  got.message.properties = Properties::from(message.properties);
  got.message.body = to_string(message.body);
  amqp_destroy_message(&message);
  return got;
}

DeadLetter DeadLetterQueues::letter_of(const Got& got) const {
  DeadLetter d = read_dead_letter(got.message.properties.headers);
  if (d.reason == wire_name(DeadLetterReason::decode_error)) {
    d.raw_body = got.message.body;
    return d;
  }
  try {
    d.event = decode(got.message.body, decode_);
  } catch (const std::exception&) {
    d.raw_body = got.message.body;
  }
  return d;
}

std::vector<DeadLetter> DeadLetterQueues::list(const std::string& group, std::size_t limit) {
  const std::string dlq = Topology::dead_letter_queue(topology_.group_queue(group));
  return run<std::vector<DeadLetter>>([&](Connection& c, amqp_channel_t ch) {
    std::vector<DeadLetter> out;
    if (!Topology::ready_count(c, ch, dlq)) return out;  // no such queue: no dead letters
    std::uint64_t last = 0;
    try {
      while (out.size() < limit) {
        auto got = get(c, ch, dlq);
        if (!got) break;
        last = got->tag;
        out.push_back(letter_of(*got));
      }
    } catch (...) {
      if (last && c.channel_open(ch)) amqp_basic_nack(c.get(), ch, last, 1, 1);
      throw;
    }
    // Back in place, in their order.
    if (last) c.check_status(amqp_basic_nack(c.get(), ch, last, 1, 1), "requeueing listed dead letters");
    return out;
  });
}

std::size_t DeadLetterQueues::replay(const std::string& group, const std::optional<std::string>& id) {
  const std::string queue = topology_.group_queue(group);
  const std::string dlq = Topology::dead_letter_queue(queue);
  return run<std::size_t>([&](Connection& c, amqp_channel_t ch) -> std::size_t {
    if (!Topology::ready_count(c, ch, queue))
      throw NotFoundError("rabbitmq: group '" + group + "' has no queue '" + queue +
                          "' to replay into (subscribe the group first)");
    ch = channel(c);
    // Only the letters there now. One that fails again comes back behind
    // them while this runs; taking it again would never end (as Kafka stops
    // at the high watermark it read first).
    const auto present = Topology::ready_count(c, ch, dlq);
    if (!present) return 0;
    return take_present(c, ch, dlq, *present, "acking a replayed dead letter", [&](const Got& got) {
      if (id && got.message.properties.message_id != *id && letter_of(got).event.id != *id) return false;
      auto props = std::make_shared<Properties>(got.message.properties);
      strip_bookkeeping(props->headers);
      props->expiration.clear();
      std::vector<OutMessage> one;
      one.push_back(OutMessage::to_queue(got.message.body, std::move(props), nullptr, queue));
      publisher_.publish(std::move(one), settings_.options.publish_timeout);
      return true;
    });
  });
}

GroupBacklog DeadLetterQueues::backlog(const std::string& group) {
  const std::string queue = topology_.group_queue(group);
  return run<GroupBacklog>([&](Connection& c, amqp_channel_t) {
    GroupBacklog b;
    b.known = true;
    // A missing queue closes the channel: each look opens it again when needed.
    auto ready = [&](const std::string& name) { return Topology::ready_count(c, channel(c), name); };
    if (auto n = ready(queue)) {
      b.exists = true;
      b.pending += *n;
    }
    if (auto n = ready(Topology::redelivered_queue(queue))) b.pending += *n;
    // Delay queues are declared per attempt number as retries need them and
    // kept: the first one missing ends the row.
    for (int attempt = 1; attempt <= max_retry_queues; ++attempt) {
      auto n = ready(Topology::retry_queue(queue, attempt));
      if (!n) break;
      b.retrying += *n;
    }
    if (auto n = ready(Topology::dead_letter_queue(queue))) {
      b.exists = true;
      b.dead = *n;
    }
    return b;
  });
}

std::size_t DeadLetterQueues::hand_over(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) {
  const std::string dlq = Topology::dead_letter_queue(topology_.group_queue(group));
  return run<std::size_t>([&](Connection& c, amqp_channel_t ch) -> std::size_t {
    const auto present = Topology::ready_count(c, ch, dlq);
    if (!present) return 0;
    ch = channel(c);
    return take_present(c, ch, dlq, *present, "acking a dead letter handed over", [&](const Got& got) {
      DeadLetter letter = letter_of(got);
      if (letter.event.id.empty() || (id && letter.event.id != *id)) return false;  // undecodable, or not asked for
      hand(letter);  // throws when the other side did not take it: it is put back
      return true;
    });
  });
}

std::size_t DeadLetterQueues::take_present(Connection& c, amqp_channel_t ch, const std::string& dlq,
                                           std::uint32_t present, const char* what,
                                           const std::function<bool(const Got&)>& take) {
  std::size_t taken = 0;
  // The highest tag fetched and not acked. One nack with `multiple` puts
  // back every letter kept; it must name a tag the channel still holds,
  // else the broker closes the channel (406 unknown delivery tag), so not
  // one taken and acked after the last kept one.
  std::uint64_t kept = 0;
  try {
    for (std::uint32_t left = present; left > 0; --left) {
      auto got = get(c, ch, dlq);
      if (!got) break;  // another reader took the rest
      const std::uint64_t kept_before = kept;
      kept = got->tag;  // until it is acked
      if (!take(*got)) continue;
      c.check_status(amqp_basic_ack(c.get(), ch, got->tag, 0), what);
      kept = kept_before;
      ++taken;
    }
  } catch (...) {
    if (kept && c.channel_open(ch)) amqp_basic_nack(c.get(), ch, kept, 1, 1);
    throw;
  }
  if (kept) c.check_status(amqp_basic_nack(c.get(), ch, kept, 1, 1), "requeueing kept dead letters");
  return taken;
}

std::size_t DeadLetterQueues::purge(const std::string& group) {
  const std::string dlq = Topology::dead_letter_queue(topology_.group_queue(group));
  return run<std::size_t>([&](Connection& c, amqp_channel_t ch) -> std::size_t {
    if (!Topology::ready_count(c, ch, dlq)) return 0;
    amqp_queue_purge_ok_t* ok = amqp_queue_purge(c.get(), ch, bytes_of(dlq));
    c.check(amqp_get_rpc_reply(c.get()), ch, "purging queue '" + dlq + "'");
    return ok ? ok->message_count : 0;
  });
}

}  // namespace herald::rabbitmq
