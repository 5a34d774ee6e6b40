// The keyed executor transports run handlers on: one key in order, keys in
// parallel, never more than the budget, nothing escaping a worker thread.

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "herald/ext/keyed_executor.hpp"
#include "wait.hpp"

using herald::ext::KeyedExecutor;
using herald::ext::Step;
using herald::test::wait_until;

namespace {

struct Job {
  std::string key;
  int n = 0;
};

// A latch the jobs wait on until the test opens it.
class Latch {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace

TEST_CASE("jobs of one key run one at a time in the order they were pushed", "[unit][executor]") {
  std::mutex mutex;
  std::map<std::string, std::vector<int>> seen;
  std::map<std::string, int> inside;
  bool overlapped = false;
  std::atomic<int> done{0};
  KeyedExecutor<Job> executor({.name = "test-order", .budget = 4}, [&](Job& job) {
    {
      std::lock_guard lock(mutex);
      if (++inside[job.key] > 1) overlapped = true;
      seen[job.key].push_back(job.n);
    }
    std::this_thread::yield();  // give a wrongly parallel job of the key its chance to overlap
    {
      std::lock_guard lock(mutex);
      --inside[job.key];
    }
    ++done;
    return Step::done;
  });
  std::vector<Job> batch;
  for (int i = 0; i < 400; ++i) {
    batch.push_back(Job{"key-" + std::to_string(i % 5), i});
    if (batch.size() == 7) executor.push(batch);  // several batches, like a receiving thread
  }
  executor.push(batch);
  REQUIRE(wait_until([&] { return done.load() == 400; }));
  std::lock_guard lock(mutex);
  CHECK_FALSE(overlapped);
  for (const auto& [key, ns] : seen) {
    CHECK(ns.size() == 80);
    CHECK(std::is_sorted(ns.begin(), ns.end()));
  }
}

TEST_CASE("jobs of different keys run in parallel", "[unit][executor]") {
  Latch first_waits;
  std::atomic<bool> second_ran{false};
  KeyedExecutor<Job> executor({.name = "test-keys", .budget = 2}, [&](Job& job) {
    if (job.key == "a") first_waits.wait();  // holds its worker until "b" has run
    else second_ran = true;
    return Step::done;
  });
  executor.push(Job{"a", 1});
  executor.push(Job{"b", 2});
  CHECK(wait_until([&] { return second_ran.load(); }));
  first_waits.open();
}

TEST_CASE("a key waiting for its running job does not hold up other keys", "[unit][executor]") {
  Latch release;
  std::atomic<int> others{0};
  KeyedExecutor<Job> executor({.name = "test-hol", .budget = 2}, [&](Job& job) {
    if (job.key == "slow") release.wait();
    else ++others;
    return Step::done;
  });
  std::vector<Job> batch{{"slow", 1}, {"slow", 2}, {"x", 3}, {"y", 4}, {"", 5}, {"", 6}};
  executor.push(batch);
  CHECK(wait_until([&] { return others.load() == 4; }));
  release.open();
  CHECK(wait_until([&] { return executor.busy() == 0; }));
}

TEST_CASE("no more jobs run at once than the budget", "[unit][executor]") {
  Latch release;
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  KeyedExecutor<Job> executor({.name = "test-budget", .budget = 3}, [&](Job&) {
    int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    release.wait();
    --running;
    return Step::done;
  });
  std::vector<Job> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(Job{"k" + std::to_string(i), i});  // eight keys could all run
  executor.push(batch);
  REQUIRE(wait_until([&] { return running.load() == 3; }));
  CHECK(executor.busy() == 8);  // three running, five queued
  release.open();
  REQUIRE(wait_until([&] { return executor.busy() == 0; }));
  CHECK(most.load() == 3);

  SECTION("a larger budget lets more run") {
    Latch second;
    std::atomic<int> inside{0};
    KeyedExecutor<Job> wider({.name = "test-budget2", .budget = 1}, [&](Job&) {
      ++inside;
      second.wait();
      return Step::done;
    });
    std::vector<Job> two{{"p", 1}, {"q", 2}};
    wider.push(two);
    REQUIRE(wait_until([&] { return inside.load() == 1; }));
    wider.set_budget(2);
    CHECK(wait_until([&] { return inside.load() == 2; }));
    second.open();
  }
}

TEST_CASE("a job put back runs again first, after resume, ahead of its key's later jobs", "[unit][executor]") {
  std::mutex mutex;
  std::vector<int> order;
  std::atomic<bool> refuse{true};
  KeyedExecutor<Job> executor({.name = "test-back", .budget = 1}, [&](Job& job) {
    if (job.n == 1 && refuse.exchange(false)) return Step::put_back;
    std::lock_guard lock(mutex);
    order.push_back(job.n);
    return Step::done;
  });
  executor.pause();
  std::vector<Job> batch{{"k", 1}, {"k", 2}, {"k", 3}};
  executor.push(batch);
  CHECK(executor.busy() == 3);  // paused: nothing ran
  executor.resume();
  REQUIRE(wait_until([&] { return executor.busy() == 0; }));
  std::lock_guard lock(mutex);
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("quiesce waits for running jobs, and discard_queued drops the rest", "[unit][executor]") {
  Latch release;
  std::atomic<int> ran{0};
  std::atomic<bool> inside{false};
  KeyedExecutor<Job> executor({.name = "test-quiesce", .budget = 1}, [&](Job& job) {
    if (job.n == 1) {
      inside = true;
      release.wait();
    }
    ++ran;
    return Step::done;
  });
  std::vector<Job> batch{{"k", 1}, {"k", 2}, {"", 3}};
  executor.push(batch);
  REQUIRE(wait_until([&] { return inside.load(); }));
  std::atomic<bool> quiet{false};
  std::thread quiescer([&] {
    executor.quiesce();
    quiet = true;
  });
  executor.discard_queued();
  CHECK_FALSE(quiet.load());  // job 1 still runs
  release.open();
  quiescer.join();
  CHECK(ran.load() == 1);
  CHECK(executor.busy() == 0);
}

TEST_CASE("an exception thrown by a job never leaves the worker thread", "[unit][executor]") {
  std::mutex mutex;
  std::vector<std::string> errors;
  std::atomic<int> after{0};
  KeyedExecutor<Job> executor(
      {.name = "test-throw",
       .budget = 2,
       .on_error =
           [&](Job&, const std::string& what) {
             std::lock_guard lock(mutex);
             errors.push_back(what);
           }},
      [&](Job& job) -> Step {
        if (job.n == 1) throw std::runtime_error("boom");
        if (job.n == 2) throw 42;
        ++after;
        return Step::done;
      });
  std::vector<Job> batch{{"k", 1}, {"k", 2}, {"k", 3}, {"", 4}};
  executor.push(batch);
  REQUIRE(wait_until([&] { return after.load() == 2; }));  // the key goes on after its throwing jobs
  std::lock_guard lock(mutex);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "boom");
  CHECK(errors[1].find("not derived from std::exception") != std::string::npos);

  SECTION("even when the error callback throws too") {
    std::atomic<int> ran{0};
    KeyedExecutor<Job> stubborn(
        {.name = "test-throw2", .on_error = [](Job&, const std::string&) { throw std::runtime_error("again"); }},
        [&](Job&) -> Step {
          ++ran;
          throw std::runtime_error("first");
        });
    std::vector<Job> two{{"", 1}, {"", 2}};
    stubborn.push(two);
    CHECK(wait_until([&] { return ran.load() == 2 && stubborn.busy() == 0; }));
  }
}

TEST_CASE("stop called from a job returns, and the threads are joined later", "[unit][executor]") {
  std::atomic<bool> returned{false};
  KeyedExecutor<Job>* me = nullptr;
  auto executor = std::make_unique<KeyedExecutor<Job>>(KeyedExecutor<Job>::Options{.name = "test-stop"}, [&](Job&) {
    me->stop();  // a subscription cancelled from its own handler: must not wait for itself
    returned = true;
    return Step::done;
  });
  me = executor.get();
  executor->push(Job{"", 1});
  REQUIRE(wait_until([&] { return returned.load(); }));
  executor.reset();  // joins, from another thread
}
