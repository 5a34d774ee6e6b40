#pragma once
// Brokers for integration tests: where they are (the environment, or brokers
// started once per test run), and names of each test's own on them, removed
// when the test ends. Plain C++: Catch2 (herald/testing/catch2.hpp) and
// GoogleTest use the same calls.

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "herald/config.hpp"

namespace herald::testing {

/// Where the test brokers are.
struct Brokers {
  std::string amqp_url;       ///< e.g. amqp://guest:guest@127.0.0.1:5702/
  std::string kafka_brokers;  ///< bootstrap list, e.g. 127.0.0.1:49092
  std::string postgres_url;   ///< e.g. postgresql://herald:herald@127.0.0.1:5452/herald
  /// The bus URL for Kafka: kafka://<kafka_brokers>.
  std::string kafka_url() const { return "kafka://" + kafka_brokers; }
};

/// The test brokers, decided once per process. Each address comes from its
/// variable when set (HERALD_TEST_AMQP_URL, HERALD_TEST_KAFKA_BROKERS,
/// HERALD_TEST_PG_URL); when one is missing, the brokers command starts the
/// brokers (`<command> up`) and says where they are (`<command> env`, lines
/// `export NAME=VALUE`). The command is HERALD_TEST_BROKERS_COMMAND, by
/// default herald's scripts/containers when the kit was built in a source
/// tree that has it. Throws std::runtime_error when a broker is nowhere.
const Brokers& test_brokers();

/// How test_brokers decides, with the environment and the command runner
/// given (tests of the kit use fakes). `run` returns a command's output and
/// throws when it fails.
Brokers find_brokers(const std::function<std::optional<std::string>(const std::string&)>& env,
                     const std::function<std::string(const std::string&)>& run);

/// `export NAME=VALUE` (or `NAME=VALUE`) lines as a map; other lines are skipped.
std::map<std::string, std::string> parse_env_lines(const std::string& text);

/// One test's names on every broker: RabbitMQ an exchange and a queue prefix
/// (its queues expire 5 minutes after their last consumer left), Kafka a
/// topic prefix and group prefix, PostgreSQL a schema. The destructor drops
/// the schema and deletes the Kafka topics under the prefix on the brokers
/// bus_config saw; group offsets expire on the broker, and RabbitMQ's
/// exchange stays (names never repeat, as in herald's own suite).
/// Not for use from several threads at once.
class BrokerNamespace {
 public:
  /// A fresh name: unique_name(prefix), never used by any test or earlier run.
  explicit BrokerNamespace(const std::string& prefix = "herald-test");
  ~BrokerNamespace();
  BrokerNamespace(const BrokerNamespace&) = delete;
  BrokerNamespace& operator=(const BrokerNamespace&) = delete;

  /// The namespace's name (letters, digits, '-').
  const std::string& name() const { return name_; }

  /// `config` with this namespace's broker names, unless the test set them:
  /// amqp(s) `exchange`, `queue_prefix`, `queue_expires`; kafka
  /// `topic_prefix`, `group_prefix`. Query options of the URL are moved into
  /// `config.options` first; memory:// is returned as it is.
  BusConfig bus_config(BusConfig config) const;
  BusConfig bus_config(const std::string& url) const { return bus_config(BusConfig::from_url(url)); }

  /// `postgres_url` with `schema=<the namespace's schema>` (herald's
  /// PostgreSQL store creates it; the destructor drops it, with CASCADE).
  std::string postgres_url(const std::string& postgres_url);
  /// The same on test_brokers().postgres_url.
  std::string postgres_url() { return postgres_url(test_brokers().postgres_url); }

  /// The PostgreSQL schema's name.
  std::string schema() const;

 private:
  std::string name_;
  std::string dropped_from_;                // the PostgreSQL URL whose schema the destructor drops
  mutable std::string kafka_bootstrap_;     // where the destructor deletes the namespace's topics
};

/// The namespace of the test that runs now, for test frameworks with per-test
/// hooks: begin_test_namespace at a test's start (replacing one left open),
/// end_test_namespace at its end (drops it), current_test_namespace in the
/// test (throws std::logic_error outside begin/end). Not for tests that run
/// in parallel threads of one process.
void begin_test_namespace(const std::string& test_name);
void end_test_namespace();
BrokerNamespace& current_test_namespace();

}  // namespace herald::testing
