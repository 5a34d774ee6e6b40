// The delivery core's decision and the delivery state's one header encoding.

#include <catch2/catch.hpp>

#include <map>

#include "herald/ext/delivery.hpp"

using namespace herald;

namespace {

RetryPolicy policy(int attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_delay = std::chrono::milliseconds(100);
  p.jitter = 0;
  return p;
}

Attempt failed(std::string why, bool retriable = true) { return {false, std::move(why), retriable, nullptr}; }

}  // namespace

TEST_CASE("a successful run is acknowledged and changes nothing", "[unit][delivery]") {
  ConsumerCounters c;
  DeliveryState s;
  CHECK(decide(policy(3), s, Attempt{}, c) == Verdict::ack());
  CHECK(s.fresh());
  CHECK(c.retried == 0);
  CHECK(c.dead_lettered == 0);
}

TEST_CASE("failures are retried with backoff until the attempts are spent", "[unit][delivery]") {
  ConsumerCounters c;
  DeliveryState s;
  CHECK(decide(policy(3), s, failed("a"), c) == Verdict::retry(std::chrono::milliseconds(100)));
  CHECK(s.first_failure.time_since_epoch().count() != 0);
  const Timestamp first = s.first_failure;
  CHECK(decide(policy(3), s, failed("b"), c) == Verdict::retry(std::chrono::milliseconds(200)));
  CHECK(decide(policy(3), s, failed("c"), c) == Verdict::dead(DeadLetterReason::max_attempts));
  CHECK(s.attempts == 3);
  CHECK(s.first_failure == first);
  CHECK(s.last_error == "c");
  CHECK(c.retried == 2);
  CHECK(c.dead_lettered == 1);
}

TEST_CASE("a handler's retry-after wins over a shorter backoff, within the policy's ceiling", "[unit][delivery]") {
  ConsumerCounters c;
  DeliveryState s;
  RetryPolicy p = policy(5);
  p.max_delay = std::chrono::seconds(10);
  Attempt later = failed("429");
  later.not_before = std::chrono::seconds(3);
  CHECK(decide(p, s, later, c) == Verdict::retry(std::chrono::seconds(3)));
  later.not_before = std::chrono::milliseconds(50);  // shorter than the backoff (200 ms): the backoff stands
  CHECK(decide(p, s, later, c) == Verdict::retry(std::chrono::milliseconds(200)));
  later.not_before = std::chrono::hours(1);  // past the ceiling
  CHECK(decide(p, s, later, c) == Verdict::retry(std::chrono::seconds(10)));
}

TEST_CASE("a non-retriable failure is dead-lettered at once", "[unit][delivery]") {
  ConsumerCounters c;
  DeliveryState s;
  CHECK(decide(policy(5), s, failed("gone", false), c) == Verdict::dead(DeadLetterReason::non_retriable));
  CHECK(s.attempts == 1);
  CHECK(c.retried == 0);
  CHECK(c.dead_lettered == 1);
}

TEST_CASE("a closing bus dead-letters what would wait for a retry", "[unit][delivery]") {
  ConsumerCounters c;
  DeliveryState s;
  CHECK(decide(policy(5), s, failed("x"), c, true) == Verdict::dead(DeadLetterReason::closed));
}

TEST_CASE("redeliveries without an outcome count towards max_attempts", "[unit][delivery]") {
  DeliveryState s;
  s.attempts = 1;
  s.redeliveries = 1;
  CHECK_FALSE(exhausted(policy(3), s));
  s.redeliveries = 2;
  CHECK(exhausted(policy(3), s));
  ConsumerCounters c;
  DeliveryState t;
  t.redeliveries = 2;
  CHECK(decide(policy(3), t, failed("x"), c) == Verdict::dead(DeadLetterReason::max_attempts));
}

TEST_CASE("the delivery state survives its headers, and damaged ones read as defaults", "[unit][delivery]") {
  DeliveryState s;
  s.attempts = 2;
  s.redeliveries = 1;
  s.first_failure = parse_time("2026-11-26T03:00:00.123456Z");
  s.last_error = std::string(5000, 'e');
  s.not_before_ms = 1'790'000'000'000;
  s.origin_topic = "orders";
  s.origin_partition = 3;
  s.origin_offset = 42;
  std::map<std::string, std::string, std::less<>> h;
  s.write_headers([&](std::string_view k, std::string v) { h.emplace(std::string(k), std::move(v)); });
  auto get = [&](std::string_view k) -> std::optional<std::string> {
    auto it = h.find(k);
    if (it == h.end()) return std::nullopt;
    return it->second;
  };
  DeliveryState r = DeliveryState::read_headers(get);
  CHECK(r.attempts == 2);
  CHECK(r.redeliveries == 1);
  CHECK(r.first_failure == s.first_failure);
  CHECK(r.last_error.size() == DeliveryState::max_error_bytes);
  CHECK(r.not_before_ms == s.not_before_ms);
  CHECK(r.origin_topic == "orders");
  CHECK(r.origin_partition == 3);
  CHECK(r.origin_offset == 42);
  for (const auto& [k, v] : h) CHECK(DeliveryState::is_bookkeeping(k));
  CHECK_FALSE(DeliveryState::is_bookkeeping("x-herald-partitionkey"));

  h["x-herald-attempts"] = "many";
  h["x-herald-first-failure"] = "yesterday";
  DeliveryState d = DeliveryState::read_headers(get);
  CHECK(d.attempts == 0);
  CHECK(d.first_failure.time_since_epoch().count() == 0);
}

TEST_CASE("records written with the Kafka transport's earlier header names go on", "[unit][delivery]") {
  std::map<std::string, std::string, std::less<>> h{{"x-herald-retry-attempts", "3"},
                                                     {"x-herald-retry-last-error", "boom"},
                                                     {"x-herald-retry-origin-topic", "t"},
                                                     {"x-herald-retry-origin-partition", "1"},
                                                     {"x-herald-retry-origin-offset", "7"}};
  DeliveryState r = DeliveryState::read_headers([&](std::string_view k) -> std::optional<std::string> {
    auto it = h.find(k);
    if (it == h.end()) return std::nullopt;
    return it->second;
  });
  CHECK(r.attempts == 3);
  CHECK(r.last_error == "boom");
  CHECK(r.origin_topic == "t");
  CHECK(r.origin_offset == 7);
}

TEST_CASE("dead-letter reasons have stable wire names", "[unit][delivery]") {
  for (auto r : {DeadLetterReason::max_attempts, DeadLetterReason::decode_error, DeadLetterReason::non_retriable,
                 DeadLetterReason::closed, DeadLetterReason::no_subscriber, DeadLetterReason::forward_error})
    CHECK(dead_letter_reason_from(wire_name(r)) == r);
  CHECK(wire_name(DeadLetterReason::non_retriable) == "non_retriable");
  CHECK(wire_name(DeadLetterReason::max_attempts) == dead_letter_reason_max_attempts);
  CHECK_FALSE(dead_letter_reason_from("bored").has_value());
}
