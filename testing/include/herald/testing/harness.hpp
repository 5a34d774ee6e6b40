#pragma once
// Harness: what a test observes of a bus — published, consumed, retried,
// dead-lettered — read from the counters the bus already keeps, with waits
// that end at a deadline instead of sleeps.
//
// \code
//   herald::testing::Harness h(*bus);
//   auto sub = bus->subscribe({.pattern = "order.paid", .group = "loyalty"},
//                             h.handler("loyalty", grant_points));
//   bus->publish(herald::Envelope::make("order.paid", {{"amount", 120}}));
//   REQUIRE(h.consumed("order.paid", "loyalty").wait_for(1, 5s));
//   CHECK(h.no_dead_letters());
//   CHECK(h.each_event_applied_once("loyalty"));
// \endcode

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "herald/metrics.hpp"
#include "herald/scheduler.hpp"

namespace herald::testing {

/// One figure the harness watches (a count since the harness started).
class Count {
 public:
  explicit Count(std::function<std::uint64_t()> read) : read_(std::move(read)) {}
  std::uint64_t count() const { return read_(); }
  /// Waits until the count is at least `n`; false when `timeout` passed first.
  bool wait_for(std::uint64_t n, std::chrono::milliseconds timeout) const;

 private:
  std::function<std::uint64_t()> read_;
};

class Harness {
 public:
  /// Watches `bus` from now on: counts start at zero, whatever the bus did
  /// before. `clock`: the ManualScheduler the bus was built with, for advance().
  /// The bus must outlive the harness.
  explicit Harness(EventBus& bus, std::shared_ptr<ManualScheduler> clock = nullptr);
  /// Builds the bus of `config` and owns it (declare subscriptions after the
  /// harness, so they end before the bus). A memory:// bus runs in simulated
  /// time (a ManualScheduler: retries wait for advance()) unless
  /// `config.scheduler` is set; brokers keep the scheduler they are given.
  explicit Harness(BusConfig config);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  EventBus& bus() const noexcept { return *bus_; }

  /// Events of `type` published through this bus ("" : every type).
  Count published(const std::string& type = {}) const;
  /// Handler runs of `group` that returned for events of `type` ("": every type).
  Count consumed(const std::string& type, const std::string& group) const;
  /// Handler runs of `group` that threw.
  Count failed(const std::string& type, const std::string& group) const;
  /// Failures the bus scheduled another attempt for.
  Count retried(const std::string& type, const std::string& group) const;
  /// Events the bus gave up on for `group` (its metrics).
  Count dead_lettered(const std::string& type, const std::string& group) const;
  /// The group's dead letters as the bus holds them now (EventBus::dead_letters),
  /// decode errors included.
  Count dead_letters(const std::string& group) const;

  /// No event dead-lettered for any group since the harness started, by the
  /// bus's counters and, for the groups handler() wrapped, its dead letters.
  bool no_dead_letters() const;

  /// Wraps `fn` to record each event id's runs for `group`, so
  /// each_event_applied_once can tell. A throw is recorded as a failed run
  /// and passed on to the bus (which retries it).
  Handler handler(const std::string& group, Handler fn);
  /// Every event id the wrapped handler of `group` saw was applied (ran to
  /// the end) exactly once, and at least one event was seen.
  bool each_event_applied_once(const std::string& group) const;
  /// Successful runs of the wrapped handler of `group` for event `id`.
  int applications(const std::string& group, const std::string& id) const;

  /// Moves simulated time on, running the retries that fall due. First it
  /// waits, up to a second, until every failure counted (failed()) is
  /// decided (retried or dead-lettered) and every retry has its timer on
  /// the clock: the clock never moves past a retry that is being scheduled.
  /// Throws std::logic_error without a ManualScheduler (brokers keep real
  /// time).
  void advance(std::chrono::milliseconds by);
  bool simulated_time() const noexcept { return clock_ != nullptr; }
  /// Waits until `count` reaches `n` (false when `timeout` of real time
  /// passed first); in simulated time it moves the clock on by `step` while
  /// the count is short, so retries fall due. The same test body then runs
  /// on memory in simulated time and on brokers in real time.
  bool settle(const Count& count, std::uint64_t n, std::chrono::milliseconds timeout,
              std::chrono::milliseconds step = std::chrono::milliseconds(100));

  /// Everything counted since the start, one line per figure: for failure messages.
  std::string summary() const;

 private:
  std::uint64_t since_start(const std::function<std::uint64_t(const MetricsSnapshot&)>& read) const;

  std::unique_ptr<EventBus> owned_;
  EventBus* bus_;
  std::shared_ptr<ManualScheduler> clock_;
  std::uint64_t scheduled_before_ = 0;  // clock_->scheduled() when the harness started
  MetricsSnapshot baseline_;
  struct Runs {
    int applied = 0;
    int failed = 0;
  };
  // Shared with the handlers handler() returns, which may outlive the harness.
  struct Recorded {
    std::mutex mutex;
    std::map<std::string, std::map<std::string, Runs>> runs;  // group → event id → runs
  };
  std::shared_ptr<Recorded> recorded_ = std::make_shared<Recorded>();
};

}  // namespace herald::testing
