#include "kafka_bus.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "bus_services.hpp"
#include "dead_letter_topics.hpp"
#include "group_backlog.hpp"
#include "group_member.hpp"
#include "herald/errors.hpp"
#include "herald/ext/transport.hpp"

namespace herald::kafka {

namespace {

/// The bus's live subscriptions. Shared with Subscription handles (weakly),
/// which may outlive the bus.
struct Members {
  std::mutex mutex;
  std::vector<std::shared_ptr<GroupMember>> list;

  std::vector<std::shared_ptr<GroupMember>> snapshot() {
    std::lock_guard lock(mutex);
    return list;
  }
  void remove(const std::shared_ptr<GroupMember>& m) {
    std::lock_guard lock(mutex);
    std::erase(list, m);
  }
};

class KafkaBus final : public ext::Transport {
 public:
  KafkaBus(const BusConfig& config, KafkaOptions options)
      : Transport(config.metrics, config.decode, config.source),
        services_(std::make_shared<BusServices>(std::move(options), config.decode,
                                                config.scheduler ? config.scheduler : make_system_scheduler())),
        dead_letters_(*services_) {
    services_->metrics = &metrics();
    std::weak_ptr<Members> weak = members_;
    services_->topics_created = [weak] {
      if (auto members = weak.lock())
        for (const auto& m : members->snapshot()) m->refresh_topics();
    };
    services_->defer = [this](std::function<void()> work) {
      std::lock_guard lock(retirees_mutex_);
      retirees_.emplace_back(std::move(work));
    };
  }

  ~KafkaBus() override { close(); }

  bool flush(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
      return std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        deadline - std::chrono::steady_clock::now()));
    };
    if (!services_->producer->wait_idle(timeout)) return false;
    for (;;) {
      auto members = members_->snapshot();
      for (const auto& m : members) m->commit_soon();
      bool done = services_->producer->outstanding() == 0;
      for (const auto& m : members) {
        if (!done) break;
        done = m->caught_up(std::min(left(), std::chrono::milliseconds(5000)));
      }
      if (done) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      // Commits go out on the members' poll threads; look again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void close() override {
    if (closed_.exchange(true)) return;
    std::vector<std::shared_ptr<GroupMember>> members;
    {
      std::lock_guard lock(members_->mutex);
      members.swap(members_->list);
    }
    for (const auto& m : members) m->stop();
    members.clear();
    std::vector<std::thread> retirees;
    {
      std::lock_guard lock(retirees_mutex_);
      retirees.swap(retirees_);
    }
    for (auto& t : retirees) t.join();
    services_->creator.stop();
    services_->producer->close(std::chrono::seconds(30));
  }

  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit) override {
    check_open();
    return dead_letters_.list(group, limit);
  }
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id) override {
    check_open();
    return dead_letters_.replay(group, id);
  }
  std::size_t purge_dead_letters(const std::string& group) override {
    check_open();
    return dead_letters_.purge(group);
  }

  Features features() const override {
    Features f;
    f.name = "kafka";
    f.persistent = true;
    f.simulated_time = false;
    f.ordered_per_key = true;
    f.broker = true;
    f.history = true;  // StartFrom::earliest reads what the topics' retention keeps
    f.foreign_bytes = true;
    // A record whose handler killed the process is fetched again from the
    // last commit with nothing to count it: it loops while it kills.
    f.crash_counts_as_attempt = false;
    return f;
  }

 protected:
  void do_publish(ext::Outgoing events) override {
    check_open();
    std::vector<std::string> topics;
    topics.reserve(events.size());
    std::string_view previous;
    for (const auto& e : events) {
      // Consecutive events mostly share a family: reuse its topic name.
      std::string_view family = std::string_view(e.type).substr(0, e.type.find('.'));
      if (!topics.empty() && family == previous) topics.push_back(topics.back());
      else topics.push_back(services_->naming.event_topic(e.type));
      previous = family;
    }
    ensure_topics(topics);
    produce(events, topics);
  }

  GroupBacklog do_backlog(const std::string& group, const std::string& pattern) override {
    check_open();
    GroupBacklog b = read_group_lag(*services_, group, pattern);
    b.dead = dead_letters_.list(group, SIZE_MAX).size();
    b.exists = b.exists || b.dead > 0;
    return b;
  }
  std::size_t do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) override {
    check_open();
    return dead_letters_.hand_over(group, id, hand);
  }
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override {
    check_open();
    auto member = GroupMember::start(services_, spec, std::move(invoke));
    {
      std::lock_guard lock(members_->mutex);
      members_->list.push_back(member);
    }
    if (closed_.load()) {
      member->stop();
      throw ClosedError("kafka: bus is closed");
    }
    std::weak_ptr<Members> weak_members = members_;
    std::weak_ptr<GroupMember> weak = member;
    return Subscription([weak_members, weak] {
      auto m = weak.lock();
      if (!m) return;
      m->stop();
      if (auto members = weak_members.lock()) members->remove(m);
    });
  }

 private:
  void check_open() const {
    if (closed_.load(std::memory_order_acquire)) throw ClosedError("kafka: bus is closed");
  }

  void ensure_topics(const std::vector<std::string>& topics) {
    std::vector<std::string> distinct;
    for (const auto& t : topics)
      if (distinct.empty() || (distinct.back() != t && std::find(distinct.begin(), distinct.end(), t) == distinct.end()))
        distinct.push_back(t);
    // Subscriptions hear of new topics on the creator's thread: each is a
    // broker round trip the publisher need not wait for.
    if (!services_->admin.ensure(distinct).empty()) services_->creator.announce();
  }

  void produce(ext::Outgoing events, const std::vector<std::string>& topics) {
    BatchDelivery delivery;
    delivery.expect(events.size());
    OutRecord record;
    for (std::size_t i = 0; i < events.size(); ++i) {
      encode_record(events[i], services_->options.mode, record);
      try {
        services_->producer->produce(topics[i], RD_KAFKA_PARTITION_UA, record, delivery);
      } catch (...) {
        delivery.forget(events.size() - i);  // these get no report
        delivery.wait();
        throw;
      }
    }
    if (events.size() > 1)
      services_->producer->wait_sent(delivery);
    else
      delivery.wait();  // one event: linger.ms lets the publishers of one event each batch together
    if (std::size_t failed = delivery.failed()) {
      std::string more = failed > 1 ? " (" + std::to_string(failed) + " of " + std::to_string(events.size()) +
                                          " events not delivered)"
                                    : "";
      throw PublishError(delivery.first_error() + more, delivery.first_error_retriable());
    }
  }

  std::shared_ptr<BusServices> services_;
  DeadLetterTopics dead_letters_;
  std::shared_ptr<Members> members_ = std::make_shared<Members>();
  std::mutex retirees_mutex_;
  std::vector<std::thread> retirees_;
  std::atomic<bool> closed_{false};
};

}  // namespace

std::unique_ptr<EventBus> make_kafka_bus(const BusConfig& config, KafkaOptions options) {
  return std::make_unique<KafkaBus>(config, std::move(options));
}

}  // namespace herald::kafka
