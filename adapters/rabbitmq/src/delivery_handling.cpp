// What becomes of each delivery: decoded, handed to a member's handler, and
// core's verdict carried out (ack, a copy to a delay queue, a copy to the
// dead-letter queue), the copies published without a worker waiting.

#include <algorithm>
#include <future>

#include "group.hpp"
#include "herald/codec.hpp"
#include "herald/ext/delivery.hpp"

namespace herald::rabbitmq {

std::vector<std::string> Group::retry_queues() const {
  std::lock_guard lock(retry_mutex_);
  return {retry_queues_.begin(), retry_queues_.end()};
}

void Group::ack(const Job& job) {
  settle(job.generation, job.source, job.delivery.delivery_tag, job.delivery.properties.message_id, false);
}

void Group::settle(std::uint64_t generation, int source, std::uint64_t tag, std::string_view message_id, bool requeue) {
  finished(source, message_id);
  const bool full = acks_.add(Ack{generation, source, tag, requeue});
  // Otherwise they go with a later batch, after ack_delay at the latest, or
  // when a worker out of work sees the broker waiting for them.
  if (full || requeue) services_.wake_io();
}

void Group::acks_waiting() {
  // If the broker waits for acks to send more, they go now; otherwise within ack_delay.
  if (acks_due())
    services_.wake_io();
  else if (has_acks())
    services_.nudge_io();
  services_.progressed();
}

// The worker goes on at once; the original is settled when the broker has
// answered for the copy, on the publisher's I/O thread. Copies leave in the
// order they are handed over (one publisher, one channel), so the next event
// of the key, which may start now, cannot get its copy ahead of this one.
// A redelivery's move is the exception: the worker, and so the next events
// of its key, wait until the copy is confirmed. The one clean-clone run in
// which it did not wait broke order per key across a quorum failover (the
// next event ran before the copy of the one before it).
void Group::move(Job& job, OutMessage message, bool redelivery) {
  {
    std::lock_guard lock(moves_mutex_);
    ++moving_;
    if (redelivery) ++redelivering_;
  }
  struct Original {
    std::uint64_t generation;
    int source;
    std::uint64_t tag;
    std::string message_id;
  };
  Original original{job.generation, job.source, job.delivery.delivery_tag, std::move(job.delivery.properties.message_id)};
  auto settled = redelivery ? std::make_shared<std::promise<void>>() : nullptr;
  auto settle_original = [this, redelivery, settled](const Original& o, bool confirmed) {
    // Not stored elsewhere: the original goes back to the queue and comes
    // again (redelivered, so counted).
    settle(o.generation, o.source, o.tag, o.message_id, !confirmed);
    acks_waiting();
    {
      std::lock_guard lock(moves_mutex_);
      const bool last_redelivery = redelivery && --redelivering_ == 0;
      // Under the lock: ~Group may follow at once (not while a worker waits below).
      if (--moving_ == 0 || last_redelivery) moves_done_.notify_all();
    }
    if (settled) settled->set_value();
  };
  try {
    std::vector<OutMessage> one;
    one.push_back(std::move(message));
    services_.publisher.publish_async(std::move(one), services_.settings.options.publish_timeout,
                                      [settle_original, original](bool confirmed) { settle_original(original, confirmed); });
  } catch (const std::exception&) {
    settle_original(original, false);  // never handed over (out of memory)
  }
  if (settled) settled->get_future().wait();
}

// The copy may reach this bus before the broker has the ack of the delivery
// it was copied from: the broker delivers the copy as it confirms it, and the
// ack waits for the confirm, then for a batch. Were the copy's handler to
// crash the process in between, both would come again and the count start
// over: a poison message would never reach max_attempts. So the copy waits.
// A crash path, not a hot one.
void Group::ack_originals_first() {
  {
    std::unique_lock lock(moves_mutex_);
    moves_done_.wait(lock, [&] { return redelivering_ == 0; });
  }
  try {
    services_.acks_to_broker(*this);
  } catch (const std::exception&) {
    // The connection broke: the broker takes back the originals and the
    // copy alike, and the copy runs now as any delivery of a lost channel.
  }
}

std::size_t Group::moving() const {
  std::lock_guard lock(moves_mutex_);
  return moving_;
}

void Group::wait_for_moves() {
  std::unique_lock lock(moves_mutex_);
  moves_done_.wait(lock, [&] { return moving_ == 0; });
}

void Group::dead_letter(Job& job, const DeadLetter& letter) {
  auto props = std::make_shared<Properties>(job.delivery.properties);
  strip_bookkeeping(props->headers);
  props->expiration.clear();
  for (const auto& [k, v] : letter.to_headers()) props->headers.set(k, v);
  auto decl = ephemeral_ ? services_.topology.ephemeral_dead_letter_decl(queue_)
                         : services_.topology.dead_letter_decl(queue_);
  move(job, OutMessage::to_queue(std::move(job.delivery.body), std::move(props), std::move(decl),
                                 Topology::dead_letter_queue(queue_)));
}

void Group::retry(Job& job, const DeliveryState& state, std::chrono::milliseconds delay, const RetryPolicy& policy) {
  auto props = std::make_shared<Properties>(job.delivery.properties);
  write_delivery_state(props->headers, state);
  props->expiration = std::to_string(delay.count());
  auto decl = ephemeral_ ? services_.topology.ephemeral_retry_decl(queue_, state.attempts, policy.max_delay)
                         : services_.topology.retry_decl(queue_, state.attempts);
  {
    std::lock_guard lock(retry_mutex_);
    retry_queues_.insert(decl->name);
  }
  std::string name = decl->name;
  move(job, OutMessage::to_queue(std::move(job.delivery.body), std::move(props), std::move(decl), std::move(name)));
}

void Group::redeliver_later(Job& job, const DeliveryState& state) {
  auto props = std::make_shared<Properties>(job.delivery.properties);
  write_delivery_state(props->headers, state);
  move(job,
       OutMessage::to_queue(std::move(job.delivery.body), std::move(props), services_.topology.redelivered_decl(queue_),
                            Topology::redelivered_queue(queue_)),
       true);
}

void Group::abandon(Job& job, const std::string& what) {
  ext::report_escaped("rabbitmq group '" + name_ + "'", what);
  settle(job.generation, job.source, job.delivery.delivery_tag, job.delivery.properties.message_id, true);
}

bool Group::handle(Job& job) {
  if (job.generation != generation_.load()) return true;  // its channel is gone: the broker redelivers it
  // Taken while the group closes: neither run nor dropped. It stays unacked
  // and runs if the group reopens; otherwise the channel closes and the
  // broker redelivers it.
  if (closing_.load()) return false;
  if (job.source == redelivered_channel) ack_originals_first();
  handle_delivery(job);
  return true;
}

void Group::handle_delivery(Job& job) {
  const Delivery& d = job.delivery;

  Envelope event;
  try {
    event = decode(d.body, services_.decode);
  } catch (const std::exception& e) {
    Envelope stub;  // names the routing key, for the metrics and the record
    stub.type = d.routing_key;
    DeliveryState state;
    const Verdict v =
        refuse(DeadLetterReason::decode_error, state, services_.metrics.consumer(stub.type, name_), e.what());
    DeadLetter letter = dead_letter_for(stub, name_, state, v.reason);
    letter.event = Envelope{};
    letter.raw_body = d.body;
    dead_letter(job, letter);
    return;
  }

  // The pass makes Subscription::cancel() wait for this handler; the member
  // (declared first, released last) keeps the gate alive meanwhile.
  std::shared_ptr<Member> member;
  ext::HandlerGate::Pass pass;
  for (int tries = 0; tries < 8 && !pass; ++tries) {
    member = pick(event.type);
    if (!member) break;
    pass = member->gate.enter();  // empty when its subscription was cancelled meanwhile
  }
  if (!pass) {
    DeliveryState state;
    const Verdict v = refuse(DeadLetterReason::no_subscriber, state, services_.metrics.consumer(event.type, name_),
                             "no active subscription of group '" + name_ + "' accepts type '" + event.type + "'");
    dead_letter(job, dead_letter_for(event, name_, state, v.reason));
    return;
  }
  const RetryPolicy policy = member->retry;

  // What earlier deliveries left: failed runs, and deliveries that ended
  // without an outcome (a crash, a lost connection). Both count towards the
  // policy's cap, so a poison message cannot loop. Anyone can publish these
  // headers: a count beyond the budget counts the whole budget, so no
  // foreign value asks for delay queues the policy never uses.
  DeliveryState state = read_delivery_state(d.properties.headers);
  state.attempts = std::min(state.attempts, policy.max_attempts);
  state.redeliveries = std::min(state.redeliveries, policy.max_attempts);
  if (d.redelivered && state.redeliveries < policy.max_attempts) ++state.redeliveries;

  if (exhausted(policy, state)) {
    const std::string why = "delivered " + std::to_string(state.redeliveries) +
                            " time(s) without an outcome (the consumer crashed or lost its connection)";
    const Verdict v = refuse(DeadLetterReason::max_attempts, state, services_.metrics.consumer(event.type, name_),
                             state.last_error.empty() ? why : state.last_error + "; then " + why);
    dead_letter(job, dead_letter_for(event, name_, state, v.reason));
    return;
  }
  // An ephemeral group's queue dies with its connection: what comes again
  // came on this one (a requeue, a channel closed), and runs here, counted.
  if (d.redelivered && !ephemeral_ && !lost_here(job)) {
    // The broker does not count for us (and would count every message the
    // crashed consumer had prefetched): record the redelivery in a copy that
    // waits in the redelivered queue, handled there one at a time.
    redeliver_later(job, state);
    return;
  }

  Attempt result;
  {
    // What core's process span reports beside the event.
    const ext::DeliveryInfo info{.destination = queue_, .routing_key = d.routing_key};
    ext::DeliveryScope delivery(info);
    result = member->invoke(event);
  }
  pass.release();  // the handler has returned: cancel() need not wait for the rest

  if (result.ok) {  // what decide() says, without looking the counters up on the hot path
    ack(job);
    return;
  }
  const Verdict v = decide(policy, state, result, services_.metrics.consumer(event.type, name_));
  switch (v.kind) {
    case Verdict::Kind::ack:
      ack(job);
      return;
    case Verdict::Kind::retry:
      retry(job, state, v.delay, policy);
      return;
    case Verdict::Kind::dead_letter:
      dead_letter(job, dead_letter_for(event, name_, state, v.reason));
      return;
  }
}

}  // namespace herald::rabbitmq
