// A retry or dead-letter copy is published asynchronously: the worker that
// made it goes on to the next delivery at once, the original is acked only
// once the broker confirmed the copy, and closing the group waits for that.
// Drives the transport's Group directly against the broker; the broker's
// confirm is held back by keeping the publisher's I/O thread busy, so the
// moment is chosen, not hoped for.

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
  explicit Services(const std::string& ns) : settings(read_settings(herald::test::isolated_config(ns))) {}
  Settings settings;
  Topology topology{settings.options};
  Publisher publisher{settings, topology};
  Metrics metrics;
  GroupServices services{settings, topology, publisher, metrics, DecodeOptions{}, [] {}, [] {}, [] {}};
};

Delivery delivery_of(std::uint64_t tag, const Envelope& e) {
  Delivery d;
  d.delivery_tag = tag;
  d.routing_key = e.type;
  d.body = encode(e);
  return d;
}

// Holds the publisher's I/O thread (and so every confirm behind it) until released.
class PublisherStall {
 public:
  PublisherStall(Publisher& p, const std::string& exchange) : exchange_(exchange) {
    std::shared_future<void> go = release_.get_future().share();
    std::string body = "{}";
    std::vector<OutMessage> one;
    one.push_back(OutMessage::event(exchange_, body, body.size(), "herald.test.stall", "stall", "", false));
    p.publish_async(std::move(one), std::chrono::seconds(30), [this, go](bool) {
      stalled_.set_value();
      go.wait();
    });
    REQUIRE(stalled_.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  }
  ~PublisherStall() { release(); }
  void release() {
    if (!released_) release_.set_value();
    released_ = true;
  }

 private:
  std::string exchange_;
  std::promise<void> stalled_, release_;
  bool released_ = false;
};

struct Settled {
  std::vector<std::uint64_t> acked, requeued;
  void take(Group& g) {
    for (const Ack& a : g.take_acks()) (a.requeue ? requeued : acked).push_back(a.tag);
  }
  bool acked_tag(std::uint64_t tag) const { return std::find(acked.begin(), acked.end(), tag) != acked.end(); }
};

}  // namespace

TEST_CASE("a worker goes on while the broker has not confirmed a retry copy and the original waits for the confirm",
          "[rabbitmq][retry][moves]") {
  const std::string ns = herald::test::unique_name("moves");
  Services s(ns);
  s.publisher.start();
  const std::string queue = "herald.it." + ns;
  Group g("moves", queue, s.services);
  g.set_generation(1);
  Recorder<std::string> handled;
  auto member = std::make_shared<Member>();
  member->pattern = "#";
  member->concurrency = 1;  // one worker: held by the copy, nothing else would run
  member->retry.max_attempts = 3;
  member->retry.initial_delay = std::chrono::minutes(1);  // the copy waits in its delay queue to be looked at
  member->retry.max_delay = std::chrono::minutes(1);
  member->retry.jitter = 0;
  member->invoke = [&](const Envelope& e) {
    handled.add(e.type);
    Attempt a;
    if (e.type == "payment.failed") {
      a.ok = false;
      a.error = "gateway said no";
    }
    return a;
  };
  g.add(member);

  Settled settled;
  std::future<void> closing;
  {
    PublisherStall stall(s.publisher, s.settings.options.exchange);
    g.deliver(Group::main_channel, delivery_of(1, Envelope::make("payment.failed", {{"n", 1}}, "/payments")));
    g.deliver(Group::main_channel, delivery_of(2, Envelope::make("payment.captured", {{"n", 2}}, "/payments")));
    g.hand_over();

    REQUIRE(handled.wait_for(2, std::chrono::seconds(10)));
    CHECK(handled.items() == std::vector<std::string>{"payment.failed", "payment.captured"});
    REQUIRE(wait_until(
        [&] {
          settled.take(g);
          return settled.acked_tag(2);
        },
        std::chrono::seconds(10)));
    CHECK(g.moving() == 1);
    CHECK_FALSE(settled.acked_tag(1));  // not before the broker has the copy

    // Closing waits for the copy, so the original cannot come again next to it.
    closing = std::async(std::launch::async, [&] { g.close_intake(); });
    CHECK(closing.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
    stall.release();
  }
  REQUIRE(closing.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CHECK(g.moving() == 0);
  settled.take(g);
  CHECK(settled.acked_tag(1));
  CHECK(settled.requeued.empty());
  CHECK(s.metrics.snapshot().total("moves").retried == 1);

  g.workers().stop();
  herald::test::RawBroker raw;
  const std::string retry_queue = Topology::retry_queue(queue, 1);
  auto m = raw.get(retry_queue);
  REQUIRE(m);
  CHECK(m->headers["x-herald-attempts"] == "1");
  CHECK(m->headers["x-herald-last-error"] == "gateway said no");
  raw.delete_queue(retry_queue);
  raw.delete_exchange(s.settings.options.exchange);
}

TEST_CASE("a retry copy the broker refuses sends the original back to its queue instead of acking it",
          "[rabbitmq][retry][moves]") {
  const std::string ns = herald::test::unique_name("moves-refused");
  Services s(ns);
  s.publisher.start();
  const std::string queue = "herald.it." + ns;
  const std::string retry_queue = Topology::retry_queue(queue, 1);
  herald::test::RawBroker raw;
  // A delay queue that refuses every message (as a full one with reject-publish does).
  raw.declare_queue(retry_queue, {{"x-max-length", 0LL}, {"x-overflow", std::string("reject-publish")}});
  Group g("moves-refused", queue, s.services);
  g.set_generation(1);
  std::atomic<int> runs{0};
  auto member = std::make_shared<Member>();
  member->pattern = "#";
  member->retry.max_attempts = 3;
  member->retry.initial_delay = std::chrono::minutes(1);
  member->retry.max_delay = std::chrono::minutes(1);
  member->invoke = [&](const Envelope&) {
    ++runs;
    Attempt a;
    a.ok = false;
    a.error = "gateway said no";
    return a;
  };
  g.add(member);

  g.deliver(Group::main_channel, delivery_of(1, Envelope::make("payment.failed", {{"n", 1}}, "/payments")));
  g.hand_over();
  Settled settled;
  REQUIRE(wait_until(
      [&] {
        settled.take(g);
        return !settled.requeued.empty();
      },
      std::chrono::seconds(30)));
  CHECK(settled.requeued == std::vector<std::uint64_t>{1});
  CHECK(settled.acked.empty());
  CHECK(g.moving() == 0);
  CHECK(runs == 1);
  g.workers().stop();
  raw.delete_queue(retry_queue);
  raw.delete_exchange(s.settings.options.exchange);
}
