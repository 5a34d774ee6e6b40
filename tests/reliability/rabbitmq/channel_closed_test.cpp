// The broker closes a consuming channel while the connection lives (here its
// consumer_timeout; in a cluster a queue's leader moving away cancels the
// consumer the same way). herald opens a new channel and consumes again; the
// messages it held come back redelivered. The process did not crash on them,
// so they run in their place, as after a lost connection, not behind the
// later events of their keys from <queue>.redelivered.
//
// Needs a broker of its own whose consumer_timeout is about a second:
// tests/scripts/rabbitmq_channel_closed_test.sh starts one and runs this.

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "herald/bus.hpp"
#include "herald/config.hpp"
#include "log_capture.hpp"
#include "stream_check.hpp"
#include "test_options.hpp"
#include "wait.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("a consuming channel the broker closes keeps order per key for the messages it held",
          "[rabbitmq][channel]") {
  LogCapture logs({LogFormat::text, LogLevel::info});
  const std::string ns = unique_name("chclosed");
  BusConfig config = BusConfig::from_url(amqp_url());
  config.options["exchange"] = "herald.it." + ns;
  config.options["queue_prefix"] = "herald.it." + ns + ".";
  auto bus = make_bus(config);

  constexpr int per_key = 30;
  const std::vector<std::string> keys = {"k1", "k2", "k3"};
  StreamCheck check;  // records the first run of each event, in the order they ran
  std::mutex mutex;
  std::map<std::string, std::vector<bool>> ran;
  for (const auto& k : keys) ran[k].assign(per_key, false);
  std::atomic<bool> held{false};

  auto closed = [&] { return !logs.matching("herald.rabbitmq", "closed by the broker").empty(); };
  auto sub = bus->subscribe({.pattern = "order.*", .group = ns}, [&](const Envelope& e) {
    const int seq = e.payload()["seq"].get<int>();
    // The first event holds the channel's deliveries unacked until the
    // broker gives up on them and closes the channel.
    if (!held.exchange(true)) wait_until(closed, deadline);  // asserted below, off this thread
    std::lock_guard lock(mutex);
    if (!ran[e.partitionkey][seq]) {
      ran[e.partitionkey][seq] = true;
      check.applied(e);
    }
  });

  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i)
      for (const auto& k : keys) bus->publish(check.make("order.placed", k, i));
  };
  publish(0, per_key / 2);
  REQUIRE(wait_until(closed, deadline));
  publish(per_key / 2, per_key);  // behind the held ones, in the queue

  REQUIRE(wait_until([&] { return check.effects() == per_key * static_cast<int>(keys.size()); }, deadline));
  CHECK(check.keys() == keys.size());
  CHECK(check.broken_keys(per_key) == std::vector<std::string>{});  // a broken key names where it broke
}
