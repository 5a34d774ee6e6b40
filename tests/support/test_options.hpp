#pragma once
// Settings the broker tests share: where the test brokers are, how long a
// condition may take, a quick retry policy and quick Kafka clients. Written
// once so that tuning them for a slow machine is one edit.

#include <chrono>
#include <string>

#include "herald/config.hpp"
#include "herald/retry.hpp"
#include "wait.hpp"

namespace herald::test {

inline std::string kafka_brokers() { return env_or("HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:9092"); }
inline std::string amqp_url() { return env_or("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"); }

/// Generous for brokers on a busy 2-core machine; conditions normally hold in milliseconds.
inline constexpr std::chrono::seconds deadline{30};

/// Short real-time backoff so broker retries finish quickly.
inline RetryPolicy quick_retry(int attempts) {
  RetryPolicy p;
  p.max_attempts = attempts;
  p.initial_delay = std::chrono::milliseconds(20);
  p.multiplier = 2.0;
  p.max_delay = std::chrono::milliseconds(200);
  p.jitter = 0.0;
  return p;
}

/// Kafka group membership settles within a few heartbeats: a member that
/// joins or dies is noticed in seconds, not librdkafka's 45.
inline void quick_kafka_groups(BusConfig& c) {
  c.options["kafka.consumer.heartbeat.interval.ms"] = "250";
  c.options["kafka.consumer.session.timeout.ms"] = "6000";
}

/// quick_kafka_groups, and records leave and arrive within milliseconds
/// (librdkafka batches and long-polls for throughput).
inline void quick_kafka(BusConfig& c) {
  quick_kafka_groups(c);
  c.options["kafka.consumer.fetch.wait.max.ms"] = "50";
  c.options["kafka.producer.linger.ms"] = "1";
}

}  // namespace herald::test
