#include "memory_bus.hpp"

#include "herald/ext/options.hpp"
#include "herald/ext/transport.hpp"
#include "in_process_broker.hpp"

namespace herald::memory {

MemoryOptions read_options(const BusConfig& config) {
  OptionReader r(config, "memory");
  MemoryOptions o;
  o.workers = static_cast<int>(r.integer("workers", o.workers, 1, 1024));
  o.inline_dispatch = r.choice("dispatch", "async", {"async", "inline"}) == "inline";
  o.queue_limit = static_cast<std::size_t>(r.integer("queue_limit", static_cast<long long>(o.queue_limit), 1, 1LL << 40));
  o.publish_timeout = r.duration("publish_timeout", o.publish_timeout);
  r.finish();
  return o;
}

namespace {

class MemoryBus final : public ext::Transport {
 public:
  MemoryBus(const BusConfig& config, const MemoryOptions& options)
      : Transport(config.metrics, config.decode, config.source),
        scheduler_(config.scheduler ? config.scheduler : make_system_scheduler()),
        broker_(std::make_shared<InProcessBroker>(options, scheduler_, shared_metrics())) {}
  ~MemoryBus() override { close(); }

  bool flush(std::chrono::milliseconds timeout) override { return broker_->flush(timeout); }
  void close() override { broker_->close(); }

  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit) override {
    return broker_->dead_letters().list(group, limit);
  }
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id) override {
    auto letters = broker_->dead_letters().take(group, id);
    std::size_t n = letters.size();
    if (n) broker_->replay(group, std::move(letters));
    return n;
  }
  std::size_t purge_dead_letters(const std::string& group) override {
    return broker_->dead_letters().take(group).size();
  }
  Features features() const override {
    Features f;
    f.name = "memory";
    f.simulated_time = true;
    return f;
  }

 protected:
  void do_publish(ext::Outgoing events) override {
    // The caller's own event goes by reference: inline dispatch hands it to
    // the handlers without a copy.
    if (!events.owned()) return broker_->publish_ref(events[0]);
    for (std::size_t i = 0; i < events.size(); ++i) broker_->publish_one(events.own(i));
  }
  GroupBacklog do_backlog(const std::string& group, const std::string&) override { return broker_->backlog(group); }
  std::size_t do_hand_over_dead_letters(const std::string& group, const std::optional<std::string>& id,
                                        const std::function<void(const DeadLetter&)>& hand) override {
    // Taken first, so that a second mover at the same moment cannot hand
    // the same letters over too; what was not accepted goes back.
    auto letters = broker_->dead_letters().take(group, id);
    std::size_t n = 0, i = 0;
    try {
      for (; i < letters.size(); ++i) {
        if (letters[i].event.id.empty()) {  // never decoded: nothing to hand on
          broker_->dead_letters().add(std::move(letters[i]));
          continue;
        }
        hand(letters[i]);
        ++n;
      }
    } catch (...) {
      for (; i < letters.size(); ++i) broker_->dead_letters().add(std::move(letters[i]));
      throw;
    }
    return n;
  }
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override {
    MemberPtr m = broker_->add(spec, std::move(invoke));
    std::weak_ptr<InProcessBroker> weak = broker_;
    return Subscription([weak, m] {
      if (auto broker = weak.lock()) broker->remove(m);
    });
  }

 private:
  std::shared_ptr<Metrics> shared_metrics() {
    // Aliasing pointer: the bus owns the metrics and outlives the broker's use.
    return std::shared_ptr<Metrics>(std::shared_ptr<Metrics>{}, &metrics());
  }
  std::shared_ptr<Scheduler> scheduler_;
  std::shared_ptr<InProcessBroker> broker_;
};

}  // namespace

std::unique_ptr<EventBus> make_memory_bus(const BusConfig& config, const MemoryOptions& options) {
  return std::make_unique<MemoryBus>(config, options);
}

}  // namespace herald::memory
