// Topics are made off the threads that must not wait for the broker: the
// caller hands its write over and goes on at once.

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "topic_creator.hpp"
#include "wait.hpp"

using herald::kafka::TopicCreator;
using herald::test::Recorder;

namespace {

// A cluster whose topic creation takes as long as the test says.
struct SlowCluster {
  std::mutex mutex;
  std::condition_variable opened;
  bool open = false;
  std::set<std::string, std::less<>> topics;
  std::string refusal;  // set: creation fails with it
  std::vector<std::thread::id> callers;

  TopicCreator::Admin admin() {
    return {[this](std::string_view t) {
              std::lock_guard lock(mutex);
              return topics.count(t) > 0;
            },
            [this](const std::vector<std::string>& wanted) {
              std::unique_lock lock(mutex);
              callers.push_back(std::this_thread::get_id());
              opened.wait(lock, [&] { return open; });
              if (!refusal.empty()) throw std::runtime_error(refusal);
              topics.insert(wanted.begin(), wanted.end());
              return wanted;
            }};
  }
  void let_go() {
    std::lock_guard lock(mutex);
    open = true;
    opened.notify_all();
  }
};

}  // namespace

TEST_CASE("a write to a topic not made yet is handed over and the caller goes on at once", "[kafka][unit][topics]") {
  SlowCluster cluster;
  std::atomic<int> announced{0};
  TopicCreator creator(cluster.admin(), [&] { ++announced; });
  CHECK_FALSE(creator.ready("orders.dlq"));

  Recorder<std::string> done;
  std::thread::id ran_on;
  creator.when_ready("orders.dlq", [&](const std::string& error) {
    ran_on = std::this_thread::get_id();
    done.add(error);
  });
  // The creation is still waiting for the cluster, and this thread is not.
  REQUIRE(herald::test::wait_until([&] {
    std::lock_guard lock(cluster.mutex);
    return !cluster.callers.empty();
  }));
  CHECK(done.size() == 0);

  cluster.let_go();
  REQUIRE(done.wait_for(1));
  CHECK(done.items().front().empty());
  CHECK(ran_on != std::this_thread::get_id());
  CHECK(cluster.callers.front() != std::this_thread::get_id());
  CHECK(creator.ready("orders.dlq"));
  // Subscriptions hear of the new topic.
  REQUIRE(herald::test::wait_until([&] { return announced.load() == 1; }));
}

TEST_CASE("a topic that cannot be made lets the write go on with the reason", "[kafka][unit][topics]") {
  SlowCluster cluster;
  cluster.refusal = "kafka: cannot create topic 'orders.dlq': not authorized";
  cluster.let_go();
  std::atomic<int> announced{0};
  TopicCreator creator(cluster.admin(), [&] { ++announced; });
  Recorder<std::string> done;
  creator.when_ready("orders.dlq", [&](const std::string& error) { done.add(error); });
  REQUIRE(done.wait_for(1));
  CHECK(done.items().front() == cluster.refusal);
  CHECK_FALSE(creator.ready("orders.dlq"));
  CHECK(announced == 0);
}

TEST_CASE("stopping the topic creator answers every write still waiting", "[kafka][unit][topics]") {
  SlowCluster cluster;
  TopicCreator creator(cluster.admin(), [] {});
  Recorder<std::string> done;
  creator.when_ready("a.dlq", [&](const std::string& error) { done.add("a:" + error); });
  creator.when_ready("b.dlq", [&](const std::string& error) { done.add("b:" + error); });
  REQUIRE(herald::test::wait_until([&] {
    std::lock_guard lock(cluster.mutex);
    return !cluster.callers.empty();
  }));
  std::thread stopper([&] { creator.stop(); });
  // Once stopped, a write is answered at once (those queued meanwhile by stop()).
  REQUIRE(herald::test::wait_until([&] {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    creator.when_ready("probe", [answered](const std::string&) { *answered = true; });
    return answered->load();
  }));
  cluster.let_go();  // the creation in progress finishes; the one queued is not started
  stopper.join();
  REQUIRE(done.size() == 2);
  CHECK(done.items()[0] == "a:");
  CHECK(done.items()[1] == std::string("b:") + TopicCreator::closing);
  // Later writes are answered at once.
  creator.when_ready("c.dlq", [&](const std::string& error) { done.add("c:" + error); });
  CHECK(done.items().back() == std::string("c:") + TopicCreator::closing);
  CHECK(cluster.callers.size() == 1);
}
