// A delivery a worker takes while its group is closing (the last member
// leaving) is either handled and acked, or left unacked for the broker to
// redeliver: never dropped. Drives the transport's Group directly, so the
// moment of the race is chosen, not hoped for. No broker needed.

#include <catch2/catch.hpp>

#include <future>

#include "group.hpp"
#include "herald/codec.hpp"
#include "raw_broker.hpp"
#include "settings.hpp"

using namespace herald;
using namespace herald::rabbitmq;
using herald::test::Recorder;
using herald::test::wait_until;

namespace {

struct Services {
  Settings settings = read_settings(BusConfig::from_url("amqp://guest:guest@127.0.0.1:5672/"));
  Topology topology{settings.options};
  Publisher publisher{settings, topology};  // never started: these handlers neither retry nor dead-letter
  Metrics metrics;
  GroupServices services{settings,
                         topology,
                         publisher,
                         metrics,
                         DecodeOptions{},
                         [] {},
                         [] {},
                         [] {}};
};

Delivery delivery_of(std::uint64_t tag, const Envelope& e) {
  Delivery d;
  d.delivery_tag = tag;
  d.routing_key = e.type;
  d.body = encode(e);
  return d;
}

std::vector<std::uint64_t> acked(Group& g) {
  std::vector<std::uint64_t> tags;
  for (const Ack& a : g.take_acks())
    if (!a.requeue) tags.push_back(a.tag);
  std::sort(tags.begin(), tags.end());
  return tags;
}

}  // namespace

TEST_CASE("a delivery taken while the group closes is handled once the group reopens", "[rabbitmq][consume][intake]") {
  Services s;
  Group g("intake", "herald.it.intake", s.services);
  g.set_generation(1);
  std::promise<void> closed, go;
  std::shared_future<void> go_future = go.get_future().share();
  Recorder<std::string> handled;
  auto member = std::make_shared<Member>();
  member->pattern = "#";
  member->concurrency = 2;  // a second worker is free while the first handler closes the group
  member->invoke = [&](const Envelope& e) {
    if (e.type == "first.event") {
      // What Subscription::cancel() does from inside the last member's own handler.
      g.close_intake();
      closed.set_value();
      go_future.wait();
    }
    handled.add(e.type);
    return Attempt{};
  };
  g.add(member);

  g.deliver(Group::main_channel, delivery_of(1, Envelope::make("first.event", {{"n", 1}}, "/intake")));
  g.hand_over();
  REQUIRE(closed.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  g.deliver(Group::main_channel, delivery_of(2, Envelope::make("second.event", {{"n", 2}}, "/intake")));
  g.hand_over();
  // Give the free worker its chance at the delivery while the group is closed.
  wait_until([&] { return g.workers().busy() == 1; }, std::chrono::seconds(1));

  SECTION("a member joins before the channel closes: the delivery is handled and acked") {
    g.reopen_intake();
    go.set_value();
    REQUIRE(handled.wait_for(2, std::chrono::seconds(10)));
    auto items = handled.items();
    std::sort(items.begin(), items.end());
    CHECK(items == std::vector<std::string>{"first.event", "second.event"});
    std::vector<std::uint64_t> tags;
    REQUIRE(wait_until(
        [&] {
          for (auto t : acked(g)) tags.push_back(t);
          return tags.size() >= 2;
        },
        std::chrono::seconds(10)));
    std::sort(tags.begin(), tags.end());
    CHECK(tags == std::vector<std::uint64_t>{1, 2});
  }
  SECTION("the channel closes: the delivery is neither handled nor acked, so the broker redelivers it") {
    go.set_value();
    REQUIRE(handled.wait_for(1, std::chrono::seconds(10)));
    REQUIRE(wait_until([&] { return g.workers().busy() <= 1; }, std::chrono::seconds(10)));
    g.channel_lost();
    REQUIRE(wait_until([&] { return g.workers().busy() == 0; }, std::chrono::seconds(10)));
    CHECK(handled.items() == std::vector<std::string>{"first.event"});
    CHECK(acked(g) == std::vector<std::uint64_t>{1});
  }
  g.workers().stop();
}
