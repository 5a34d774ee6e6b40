// The handler gate behind Subscription::cancel(): it waits for running
// handlers, lets none start after it, and never waits for the caller itself.

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "herald/ext/handler_gate.hpp"
#include "wait.hpp"

using herald::ext::HandlerGate;
using herald::test::wait_until;

TEST_CASE("closing the gate waits for the handlers inside it", "[unit][gate]") {
  HandlerGate gate;
  std::atomic<bool> inside{false}, go_on{false}, finished{false}, closed{false};
  bool finished_before_close_returned = false;
  std::thread handler([&] {
    auto pass = gate.enter();
    REQUIRE(pass);
    inside = true;
    while (!go_on.load()) std::this_thread::yield();
    finished = true;
  });
  REQUIRE(wait_until([&] { return inside.load(); }));
  std::thread closer([&] {
    gate.close();
    finished_before_close_returned = finished.load();
    closed = true;
  });
  REQUIRE(wait_until([&] { return !gate.is_open(); }));
  CHECK_FALSE(closed.load());
  CHECK(gate.running() == 1);
  go_on = true;
  handler.join();
  closer.join();
  CHECK(finished_before_close_returned);
  CHECK(gate.running() == 0);
}

TEST_CASE("no handler enters a closed gate", "[unit][gate]") {
  HandlerGate gate;
  gate.close();
  auto pass = gate.enter();
  CHECK_FALSE(pass);
  CHECK(gate.running() == 0);
  CHECK_FALSE(gate.inside());
}

TEST_CASE("a handler closing its own gate returns without waiting for itself", "[unit][gate]") {
  HandlerGate gate;
  auto cancelled_from_inside = std::async(std::launch::async, [&] {
    auto pass = gate.enter();
    CHECK(gate.inside());
    gate.close();  // Subscription::cancel() from the handler
    return true;
  });
  REQUIRE(cancelled_from_inside.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(cancelled_from_inside.get());
  CHECK(gate.running() == 0);

  SECTION("it still waits for the same subscription's handlers on other threads") {
    HandlerGate shared;
    std::atomic<bool> other_inside{false}, release_other{false}, closed{false};
    std::thread other([&] {
      auto pass = shared.enter();
      other_inside = true;
      while (!release_other.load()) std::this_thread::yield();
    });
    REQUIRE(wait_until([&] { return other_inside.load(); }));
    std::thread self([&] {
      auto pass = shared.enter();
      shared.close();
      closed = true;
    });
    REQUIRE(wait_until([&] { return !shared.is_open(); }));
    CHECK_FALSE(closed.load());
    release_other = true;
    other.join();
    self.join();
    CHECK(closed.load());
  }

  SECTION("nor for a handler of it further up this thread (inline dispatch nests handlers)") {
    HandlerGate outer, inner;
    auto nested = std::async(std::launch::async, [&] {
      auto a = outer.enter();
      auto b = inner.enter();  // the outer handler published; this one runs right here
      outer.close();
      CHECK_FALSE(inner.inside() == false);
      return outer.inside() && inner.inside();
    });
    REQUIRE(nested.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(nested.get());
    CHECK(outer.running() == 0);
    CHECK(inner.running() == 0);
  }
}

TEST_CASE("a pass released early is no longer waited for", "[unit][gate]") {
  HandlerGate gate;
  std::atomic<bool> released{false}, keep_going{false};
  std::thread handler([&] {
    auto pass = gate.enter();
    auto moved = std::move(pass);  // passes move (an optional holds them)
    CHECK_FALSE(pass);
    moved.release();  // the handler returned; the rest of the job is not the handler's
    released = true;
    while (!keep_going.load()) std::this_thread::yield();
  });
  REQUIRE(wait_until([&] { return released.load(); }));
  gate.close();  // returns while the thread still works after its handler
  CHECK(gate.running() == 0);
  keep_going = true;
  handler.join();
}
