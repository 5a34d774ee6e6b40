#include "group.hpp"

#include <algorithm>
#include <optional>

#include "herald/codec.hpp"
#include "herald/ext/delivery.hpp"
#include "herald/pattern.hpp"

namespace herald::rabbitmq {

namespace {

thread_local const Member* current_member = nullptr;

// Bound on the unfinished deliveries remembered (prefetch windows are far smaller).
constexpr std::size_t max_unfinished = 100000;

// A member's handler counted as running for as long as this lives, so that
// Subscription::cancel() waits for it. Claimed before checking `active`
// (both seq_cst): either cancel sees the count, or this sees the cancel.
class Claim {
 public:
  explicit Claim(std::shared_ptr<Member> m) : member_(std::move(m)) {
    member_->running.fetch_add(1);
    if (!member_->active.load()) release();
  }
  ~Claim() { release(); }
  Claim(const Claim&) = delete;
  Claim& operator=(const Claim&) = delete;
  explicit operator bool() const noexcept { return member_ != nullptr; }
  Member& operator*() const noexcept { return *member_; }
  Member* get() const noexcept { return member_.get(); }

 private:
  void release() {
    if (!member_) return;
    if (member_->running.fetch_sub(1) <= 2 && !member_->active.load()) {
      std::lock_guard lock(member_->mutex);
      member_->idle.notify_all();
    }
    member_.reset();
  }
  std::shared_ptr<Member> member_;
};

}  // namespace

const Member* running_member() noexcept { return current_member; }

Group::Group(std::string name, std::string queue, GroupServices& services)
    : name_(std::move(name)),
      queue_(std::move(queue)),
      services_(services),
      dispatcher_([this](Job& job) { return handle(job); },
                  [this] { acks_waiting(); }) {}

bool Group::acks_overdue(std::chrono::steady_clock::time_point now) const noexcept {
  return has_acks() && now.time_since_epoch().count() - first_pending_.load(std::memory_order_relaxed) >=
                           std::chrono::duration_cast<std::chrono::steady_clock::duration>(ack_delay).count();
}

bool Group::acks_due() const noexcept {
  if (!has_acks()) return false;
  if (pending_acks_.load(std::memory_order_relaxed) >= ack_batch_.load(std::memory_order_relaxed)) return true;
  for (int lane = 0; lane < 2; ++lane) {
    std::size_t window = window_[lane].load(std::memory_order_relaxed);
    if (window && unacked_[lane].load(std::memory_order_relaxed) >= window) return true;
  }
  return false;
}

Group::~Group() {
  dispatcher_.stop();
  wait_for_moves();  // their callbacks use this group
}

void Group::add(std::shared_ptr<Member> member) {
  int total = 0;
  {
    std::unique_lock lock(members_mutex_);
    members_.push_back(std::move(member));
    by_type_.clear();
    for (const auto& m : members_) total += m->concurrency;
  }
  set_concurrency(total);
}

void Group::set_concurrency(int total) {
  total_concurrency_.store(total);
  // Like the baseline's ack batching, but never more than half the prefetch
  // window, so the broker keeps sending while acks gather.
  ack_batch_.store(std::clamp<std::size_t>(prefetch() / 2, 1, 64));
  dispatcher_.set_limit(total);
}

bool Group::remove(const std::shared_ptr<Member>& member) {
  int total = 0;
  bool left = false;
  {
    std::unique_lock lock(members_mutex_);
    std::erase(members_, member);
    by_type_.clear();
    for (const auto& m : members_) total += m->concurrency;
    left = !members_.empty();
  }
  if (left) set_concurrency(total);
  return left;
}

std::vector<std::string> Group::patterns() const {
  std::shared_lock lock(members_mutex_);
  std::vector<std::string> out;
  for (const auto& m : members_)
    if (std::find(out.begin(), out.end(), m->pattern) == out.end()) out.push_back(m->pattern);
  return out;
}

int Group::concurrency() const { return total_concurrency_.load(); }

bool Group::has_members() const {
  std::shared_lock lock(members_mutex_);
  return !members_.empty();
}

std::uint16_t Group::prefetch() const {
  long long n = static_cast<long long>(std::max(1, concurrency())) * services_.settings.options.prefetch_multiplier;
  return static_cast<std::uint16_t>(std::clamp(n, 1LL, 65'535LL));
}

void Group::deliver(int lane, Delivery&& delivery) {
  Job job;
  job.generation = generation_.load();
  job.lane = lane;
  // Same partition key → one at a time, in order (herald puts the key in a
  // header; a foreign publisher only in the body). One worker keeps order anyway.
  if (auto key = delivery.properties.headers.text(header::partitionkey)) {
    job.key = std::move(*key);
  } else if (concurrency() > 1) {
    try {
      job.key = decode(delivery.body, services_.decode).partitionkey;
    } catch (const std::exception&) {
      // the worker dead-letters it with the decode error
    }
  }
  took(delivery, lane);
  job.delivery = std::move(delivery);
  incoming_.push_back(std::move(job));
}

// A redelivered message is counted and normally waits in the redelivered
// queue, out of order, because it may have crashed its consumer. Not so one
// this very bus held, or was being sent, when its connection broke: the
// process did not crash on it. When the node leading a quorum queue dies,
// every message the consumer had prefetched comes again redelivered; running
// those here, in delivery order (still counted, so max_attempts = 1
// dead-letters them as before), keeps order per key across the failover.
void Group::took(const Delivery& d, int lane) {
  if (lane != main_lane || d.properties.message_id.empty()) return;
  std::lock_guard lock(unfinished_mutex_);
  if (unfinished_.size() >= max_unfinished) unfinished_.clear();  // bounded; the worst is a redelivery counted
  ++unfinished_[d.properties.message_id].live;
}

void Group::finished(int lane, std::string_view message_id) {
  if (lane != main_lane || message_id.empty()) return;
  std::lock_guard lock(unfinished_mutex_);
  auto it = unfinished_.find(std::string(message_id));
  if (it == unfinished_.end()) return;
  if (--it->second.live <= 0 && !it->second.lost) unfinished_.erase(it);
}

bool Group::lost_here(const Job& job) {
  if (job.lane != main_lane) return false;
  std::lock_guard lock(unfinished_mutex_);
  auto it = unfinished_.find(job.delivery.properties.message_id);
  if (it != unfinished_.end() && it->second.lost) {
    it->second.lost = false;
    return true;
  }
  // Messages the broker had handed to the lost consumer but that never
  // arrived come again redelivered too: at most a prefetch window of them.
  if (lost_in_flight_ == 0) return false;
  --lost_in_flight_;
  return true;
}

void Group::hand_over() { dispatcher_.push(incoming_); }

void Group::channel_lost() {
  incoming_.clear();
  dispatcher_.discard_queued();
}

void Group::connection_lost() {
  const std::size_t window = prefetch();
  std::lock_guard lock(unfinished_mutex_);
  for (auto& [id, u] : unfinished_) {
    u.lost = true;
    u.live = 0;  // none of them is acked on a new channel
  }
  lost_in_flight_ = window;
}

std::vector<Ack> Group::take_acks() {
  std::lock_guard lock(acks_mutex_);
  std::vector<Ack> out;
  out.swap(acks_);
  has_acks_.store(false, std::memory_order_release);
  pending_acks_.store(0, std::memory_order_relaxed);
  return out;
}

void Group::close_intake() {
  // Paused first: a worker that sees closing_ puts its job back and then
  // waits, instead of taking it again at once.
  dispatcher_.pause();
  closing_.store(true);
  if (!dispatcher_.on_worker_thread()) dispatcher_.quiesce();
  // Moves settle their originals when the broker answers for the copies;
  // an original still unacked when its channel closes would come again next
  // to its copy. They never wait for a worker, so a handler may wait too.
  wait_for_moves();
}

void Group::reopen_intake() {
  closing_.store(false);
  dispatcher_.resume();
}

std::vector<std::string> Group::retry_queues() const {
  std::lock_guard lock(retry_mutex_);
  return {retry_queues_.begin(), retry_queues_.end()};
}

std::shared_ptr<Member> Group::pick(const std::string& type) {
  auto choose = [&](const std::vector<std::shared_ptr<Member>>& candidates) -> std::shared_ptr<Member> {
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const auto& m = candidates[(next_.fetch_add(1, std::memory_order_relaxed) + i) % candidates.size()];
      if (m->active.load(std::memory_order_acquire)) return m;
    }
    return nullptr;
  };
  {
    std::shared_lock lock(members_mutex_);
    auto it = by_type_.find(type);
    if (it != by_type_.end()) return choose(it->second);
  }
  std::unique_lock lock(members_mutex_);
  if (by_type_.size() > 10'000) by_type_.clear();  // bound the cache against endless distinct types
  auto& cached = by_type_[type];
  cached.clear();
  for (const auto& m : members_)
    if (matches(m->pattern, type)) cached.push_back(m);
  return choose(cached);
}

void Group::ack(const Job& job) {
  settle(job.generation, job.lane, job.delivery.delivery_tag, job.delivery.properties.message_id, false);
}

void Group::settle(std::uint64_t generation, int lane, std::uint64_t tag, std::string_view message_id, bool requeue) {
  finished(lane, message_id);
  bool full;
  {
    std::lock_guard lock(acks_mutex_);
    if (acks_.empty())
      first_pending_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    acks_.push_back(Ack{generation, lane, tag, requeue});
    has_acks_.store(true, std::memory_order_release);
    pending_acks_.store(acks_.size(), std::memory_order_relaxed);
    full = acks_.size() >= ack_batch_.load(std::memory_order_relaxed);
  }
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
void Group::move(Job& job, OutMessage message) {
  {
    std::lock_guard lock(moves_mutex_);
    ++moving_;
  }
  struct Original {
    std::uint64_t generation;
    int lane;
    std::uint64_t tag;
    std::string message_id;
  };
  Original original{job.generation, job.lane, job.delivery.delivery_tag, std::move(job.delivery.properties.message_id)};
  auto settle_original = [this](const Original& o, bool confirmed) {
    // Not stored elsewhere: the original goes back to the queue and comes
    // again (redelivered, so counted).
    settle(o.generation, o.lane, o.tag, o.message_id, !confirmed);
    acks_waiting();
    std::lock_guard lock(moves_mutex_);
    if (--moving_ == 0) moves_done_.notify_all();  // under the lock: ~Group may follow at once
  };
  try {
    std::vector<OutMessage> one;
    one.push_back(std::move(message));
    services_.publisher.publish_async(std::move(one), services_.settings.options.publish_timeout,
                                      [settle_original, original](bool confirmed) { settle_original(original, confirmed); });
  } catch (const std::exception&) {
    settle_original(original, false);  // never handed over (out of memory)
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
  move(job, OutMessage::to_queue(std::move(job.delivery.body), std::move(props),
                                 services_.topology.dead_letter_decl(queue_), Topology::dead_letter_queue(queue_)));
}

void Group::retry(Job& job, const DeliveryState& state, std::chrono::milliseconds delay) {
  auto props = std::make_shared<Properties>(job.delivery.properties);
  write_delivery_state(props->headers, state);
  props->expiration = std::to_string(delay.count());
  auto decl = services_.topology.retry_decl(queue_, state.attempts);
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
  move(job, OutMessage::to_queue(std::move(job.delivery.body), std::move(props),
                                 services_.topology.redelivered_decl(queue_), Topology::redelivered_queue(queue_)));
}

bool Group::handle(Job& job) {
  if (job.generation != generation_.load()) return true;  // its channel is gone: the broker redelivers it
  // Taken while the group closes: neither run nor dropped. It stays unacked
  // and runs if the group reopens; otherwise the channel closes and the
  // broker redelivers it.
  if (closing_.load()) return false;
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

  std::optional<Claim> member;
  for (int tries = 0; tries < 8 && !(member && *member); ++tries) {
    auto m = pick(event.type);
    if (!m) break;
    member.emplace(std::move(m));  // fails when its subscription was cancelled meanwhile
  }
  if (!member || !*member) {
    DeliveryState state;
    const Verdict v = refuse(DeadLetterReason::no_subscriber, state, services_.metrics.consumer(event.type, name_),
                             "no active subscription of group '" + name_ + "' accepts type '" + event.type + "'");
    dead_letter(job, dead_letter_for(event, name_, state, v.reason));
    return;
  }
  const RetryPolicy policy = (**member).retry;  // a copy: the member may go once its handler returned

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
  if (d.redelivered && !lost_here(job)) {
    // The broker does not count for us (and would count every message the
    // crashed consumer had prefetched): record the redelivery in a copy that
    // waits in the redelivered queue, handled there one at a time.
    redeliver_later(job, state);
    return;
  }

  const Member* previous = current_member;
  current_member = member->get();
  Attempt result = (**member).invoke(event);
  current_member = previous;
  member.reset();  // the handler has returned: cancel() need not wait for the rest

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
      retry(job, state, v.delay);
      return;
    case Verdict::Kind::dead_letter:
      dead_letter(job, dead_letter_for(event, name_, state, v.reason));
      return;
  }
}

}  // namespace herald::rabbitmq
