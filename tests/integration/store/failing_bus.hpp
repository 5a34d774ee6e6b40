#pragma once
// A bus that refuses chosen events (or everything, like a broker that is
// down) in front of an inline memory bus, for relay tests.

#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/ext/transport.hpp"

namespace herald::test {

class FailingBus final : public ext::Transport {
 public:
  /// Returns the error for an event the bus refuses, nullopt to accept it.
  using Rule = std::function<std::optional<std::string>(const Envelope&)>;

  FailingBus() : Transport(nullptr, {}, "test"), inner_(make_bus("memory://?dispatch=inline")) {}

  /// Refuse events `rule` picks with PublishError (this event only),
  /// retriable or not.
  void refuse(Rule rule, bool retriable = false) {
    std::lock_guard lock(mutex_);
    rule_ = std::move(rule);
    retriable_ = retriable;
    down_ = false;
  }
  /// Refuse everything with TransportError (the broker is down).
  void go_down() {
    std::lock_guard lock(mutex_);
    down_ = true;
  }
  void heal() {
    std::lock_guard lock(mutex_);
    rule_ = nullptr;
    down_ = false;
  }
  int publish_calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

  bool flush(std::chrono::milliseconds timeout) override { return inner_->flush(timeout); }
  void close() override { inner_->close(); }
  std::vector<DeadLetter> dead_letters(const std::string& group, std::size_t limit) override {
    return inner_->dead_letters(group, limit);
  }
  std::size_t replay_dead_letters(const std::string& group, const std::optional<std::string>& id) override {
    return inner_->replay_dead_letters(group, id);
  }
  std::size_t purge_dead_letters(const std::string& group) override { return inner_->purge_dead_letters(group); }
  Features features() const override { return inner_->features(); }

 protected:
  // Like a broker: the events before the refused one are accepted.
  void do_publish(ext::Outgoing events) override {
    std::vector<Envelope> accepted;
    std::optional<std::string> error;
    bool down = false;
    bool retriable = false;
    {
      std::lock_guard lock(mutex_);
      ++calls_;
      down = down_;
      retriable = retriable_;
      for (auto& e : events) {
        if (!down && rule_) error = rule_(e);
        if (down || error) break;
        accepted.push_back(e);
      }
    }
    if (!accepted.empty()) inner_->publish(std::move(accepted));
    if (down) throw TransportError("broker unreachable (test)");
    if (error) throw PublishError(*error, retriable);
  }
  Subscription do_subscribe(const SubscribeSpec& spec, Invoker invoke) override {
    return inner_->subscribe(spec, [invoke = std::move(invoke)](const Envelope& e) {
      Attempt a = invoke(e);
      if (!a.ok) throw std::runtime_error(a.error);
    });
  }

 private:
  std::unique_ptr<EventBus> inner_;
  mutable std::mutex mutex_;
  Rule rule_;
  bool down_ = false;
  bool retriable_ = false;
  int calls_ = 0;
};

}  // namespace herald::test
