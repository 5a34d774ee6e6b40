#include <catch2/catch.hpp>

#include "herald/errors.hpp"
#include "herald/retry.hpp"

using namespace herald;
using std::chrono::milliseconds;

TEST_CASE("backoff grows exponentially, is capped and jittered within bounds", "[retry]") {
  RetryPolicy p{.max_attempts = 10, .initial_delay = milliseconds(100), .multiplier = 2.0, .max_delay = milliseconds(1000), .jitter = 0.2};
  CHECK(p.delay_after(1, 0.5) == milliseconds(100));
  CHECK(p.delay_after(2, 0.5) == milliseconds(200));
  CHECK(p.delay_after(3, 0.5) == milliseconds(400));
  CHECK(p.delay_after(5, 0.5) == milliseconds(1000));
  CHECK(p.delay_after(1, 0.0) == milliseconds(80));
  CHECK(p.delay_after(1, 0.999999) == milliseconds(120));
  CHECK(p.delay_after(9, 0.999999) == milliseconds(1000));  // never above the cap
  for (int i = 0; i < 1000; ++i) {
    auto d = p.delay_after(2);
    REQUIRE(d >= milliseconds(160));
    REQUIRE(d <= milliseconds(240));
  }
}

TEST_CASE("max_attempts counts handler runs", "[retry]") {
  RetryPolicy p{.max_attempts = 3};
  CHECK(p.should_retry(1));
  CHECK(p.should_retry(2));
  CHECK_FALSE(p.should_retry(3));
  CHECK_FALSE(RetryPolicy::none().should_retry(1));
}

TEST_CASE("nonsense policies are refused", "[retry]") {
  CHECK_THROWS_AS((RetryPolicy{.max_attempts = 0}.validate()), ConfigError);
  CHECK_THROWS_AS((RetryPolicy{.multiplier = 0.5}.validate()), ConfigError);
  CHECK_THROWS_AS((RetryPolicy{.initial_delay = milliseconds(10), .max_delay = milliseconds(5)}.validate()), ConfigError);
  CHECK_THROWS_AS((RetryPolicy{.jitter = 1.5}.validate()), ConfigError);
}
