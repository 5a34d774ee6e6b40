// A group's members, and its intake: deliveries collected on the I/O thread,
// handed to the workers, and what this bus held when a channel was lost.

#include "group.hpp"

#include <algorithm>

#include "herald/codec.hpp"
#include "herald/log.hpp"
#include "herald/pattern.hpp"

namespace herald::rabbitmq {

namespace {

// Bound on the unfinished deliveries remembered (prefetch windows are far smaller).
constexpr std::size_t max_unfinished = 100000;
// Events handed over after a loss past which a redelivery is no longer taken
// for one of what the lost consumer held (another consumer's crash, later).
constexpr std::size_t watch_after_loss = 10000;

}  // namespace

Group::Group(std::string name, std::string queue, GroupServices& services, bool ephemeral)
    : name_(std::move(name)),
      queue_(std::move(queue)),
      services_(services),
      ephemeral_(ephemeral),
      workers_({.name = "herald-rabbit",
                .idle = [this] { acks_waiting(); },
                .on_error = [this](Job& job, const std::string& what) { abandon(job, what); }},
               [this](Job& job) { return handle(job) ? ext::Step::done : ext::Step::put_back; }) {}

Group::~Group() {
  workers_.stop();
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
  acks_.set_batch(std::clamp<std::size_t>(prefetch() / 2, 1, 64));
  workers_.set_budget(total);
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

void Group::deliver(int source, Delivery&& delivery) {
  Job job;
  job.generation = generation_.load();
  job.source = source;
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
  if (source == main_channel && fresh_since_loss_) {
    if (!delivery.redelivered) {
      if (++*fresh_since_loss_ > watch_after_loss) fresh_since_loss_.reset();
    } else if (*fresh_since_loss_ > 0) {
      late_redelivery(delivery);
    }
  }
  took(delivery, source);
  job.delivery = std::move(delivery);
  incoming_.push_back(std::move(job));
}

// A redelivered message is counted and normally waits in the redelivered
// queue, out of order, because it may have crashed its consumer. Not so one
// this very bus held, or was being sent, when its channel or connection was
// lost: the process did not crash on it. When the node leading a quorum queue dies,
// every message the consumer had prefetched comes again redelivered; running
// those here, in delivery order (still counted, so max_attempts = 1
// dead-letters them as before), keeps order per key across the failover.
void Group::took(const Delivery& d, int source) {
  if (source != main_channel || d.properties.message_id.empty()) return;
  std::lock_guard lock(unfinished_mutex_);
  if (unfinished_.size() >= max_unfinished) unfinished_.clear();  // bounded; the worst is a redelivery counted
  ++unfinished_[d.properties.message_id].live;
}

void Group::finished(int source, std::string_view message_id) {
  if (source != main_channel || message_id.empty()) return;
  std::lock_guard lock(unfinished_mutex_);
  auto it = unfinished_.find(std::string(message_id));
  if (it == unfinished_.end()) return;
  if (--it->second.live <= 0 && !it->second.lost) unfinished_.erase(it);
}

bool Group::lost_here(const Job& job) {
  if (job.source != main_channel) return false;
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

// A quorum queue gives a dead consumer's deliveries back when its leader
// processes that consumer's node going down; a consumer that subscribed
// again before that is handed ready events first, some published after the
// loss (docs/rabbitmq.md, "Clusters"). herald cannot put them back in order,
// but can say it happened.
void Group::late_redelivery(const Delivery& d) {
  log(LogLevel::warn, "herald.rabbitmq",
      "group '" + name_ + "': after its channel was lost, the broker handed over " +
          std::to_string(*fresh_since_loss_) + " event(s) before redelivering " + d.properties.message_id +
          ", which the lost consumer held: order per key may be broken for its key (single_active_consumer=true "
          "keeps it across a consumer's loss)");
  fresh_since_loss_.reset();
}

void Group::hand_over() { workers_.push(incoming_); }

// Whether the connection broke or only the channel closed (the broker's
// consumer_timeout, a consumer cancelled when its queue's leader went away),
// the broker requeues what the channel held, and the process did not crash
// on any of it.
void Group::channel_lost() {
  incoming_.clear();
  workers_.discard_queued();
  const std::size_t window = prefetch();
  std::lock_guard lock(unfinished_mutex_);
  for (auto& [id, u] : unfinished_) {
    u.lost = true;
    u.live = 0;  // none of them is acked on a new channel
  }
  lost_in_flight_ = window;
  // An ephemeral group's queue went with the connection; nothing comes back
  // late. A loss while watching keeps the count: what a channel in between
  // handed over ran before the redeliveries still to come.
  if (!ephemeral_ && !fresh_since_loss_) fresh_since_loss_ = 0;
}

void Group::close_intake() {
  // Paused first: a worker that sees closing_ puts its job back and then
  // waits, instead of taking it again at once.
  workers_.pause();
  closing_.store(true);
  if (!workers_.on_worker_thread()) workers_.quiesce();
  // Moves settle their originals when the broker answers for the copies;
  // an original still unacked when its channel closes would come again next
  // to its copy. They never wait for a worker, so a handler may wait too.
  wait_for_moves();
}

void Group::reopen_intake() {
  closing_.store(false);
  workers_.resume();
}

std::shared_ptr<Member> Group::pick(const std::string& type) {
  auto choose = [&](const std::vector<std::shared_ptr<Member>>& candidates) -> std::shared_ptr<Member> {
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const auto& m = candidates[(next_.fetch_add(1, std::memory_order_relaxed) + i) % candidates.size()];
      if (m->gate.is_open()) return m;
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

}  // namespace herald::rabbitmq
