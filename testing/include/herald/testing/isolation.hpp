#pragma once
// Where a test's events go: the transport under test, and names of its own
// on that transport so tests (and reruns on a long-lived broker) never meet.

#include <string>

#include "herald/config.hpp"

namespace herald::testing {

/// The transport the test runs on: HERALD_TEST_URL when set and not empty,
/// otherwise `fallback`. One test body runs on memory, RabbitMQ and Kafka by
/// setting the variable (ctest: one add_test per transport).
std::string transport_from_env(const std::string& fallback = "memory://");

/// A name no other test, in this process or any earlier run, uses:
/// `<prefix>-<run>-<n>` (run: time and randomness, n: a counter).
std::string unique_name(const std::string& prefix = "herald-test");

/// `config` with broker names of its own, unless the test set them:
/// RabbitMQ (amqp://, amqps://) `exchange` and `queue_prefix`, Kafka
/// `topic_prefix` and `group_prefix`. Memory needs none: every bus is its own
/// world. Query options of `config.url` are moved into `config.options` first.
BusConfig namespaced(BusConfig config, const std::string& prefix = "herald-test");

}  // namespace herald::testing
