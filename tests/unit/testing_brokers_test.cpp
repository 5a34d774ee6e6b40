// herald::testing's broker fixture without brokers: where it looks for them,
// and the names each test gets.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "herald/testing/brokers.hpp"

using herald::BusConfig;
using herald::testing::BrokerNamespace;
using herald::testing::find_brokers;
using herald::testing::parse_env_lines;

namespace {

struct FakeShell {
  std::map<std::string, std::string> env;
  std::vector<std::string> commands;
  std::string env_output;

  auto lookup() {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
  }
  auto runner() {
    return [this](const std::string& command) {
      commands.push_back(command);
      return command.find(" env") != std::string::npos ? env_output : std::string();
    };
  }
};

}  // namespace

TEST_CASE("brokers named in the environment are used without starting anything", "[testing][brokers]") {
  FakeShell shell;
  shell.env = {{"HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5702/"},
               {"HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:49092"},
               {"HERALD_TEST_PG_URL", "postgresql://herald:herald@127.0.0.1:5452/herald"},
               {"HERALD_TEST_BROKERS_COMMAND", "/bin/false"}};
  auto brokers = find_brokers(shell.lookup(), shell.runner());
  CHECK(shell.commands.empty());
  CHECK(brokers.amqp_url == "amqp://guest:guest@127.0.0.1:5702/");
  CHECK(brokers.kafka_url() == "kafka://127.0.0.1:49092");
  CHECK(brokers.postgres_url == "postgresql://herald:herald@127.0.0.1:5452/herald");
}

TEST_CASE("a broker missing from the environment is started by the brokers command, which says where", "[testing][brokers]") {
  FakeShell shell;
  shell.env = {{"HERALD_TEST_AMQP_URL", "amqp://mine/"}, {"HERALD_TEST_BROKERS_COMMAND", "scripts/containers"}};
  shell.env_output =
      "export HERALD_TEST_AMQP_URL=amqp://theirs/\n"
      "export HERALD_TEST_KAFKA_BROKERS=127.0.0.1:49092\n"
      "export HERALD_TEST_PG_URL='postgresql://herald:herald@127.0.0.1:5452/herald'\n"
      "export PATH=/nowhere\n";
  auto brokers = find_brokers(shell.lookup(), shell.runner());
  REQUIRE(shell.commands.size() == 2);
  CHECK(shell.commands[0] == "scripts/containers up 1>&2");
  CHECK(shell.commands[1] == "scripts/containers env");
  CHECK(brokers.amqp_url == "amqp://mine/");  // the environment wins
  CHECK(brokers.kafka_brokers == "127.0.0.1:49092");
  CHECK(brokers.postgres_url == "postgresql://herald:herald@127.0.0.1:5452/herald");
}

TEST_CASE("a brokers command that does not say where a broker is fails with the variable's name", "[testing][brokers]") {
  FakeShell shell;
  shell.env = {{"HERALD_TEST_BROKERS_COMMAND", "start-brokers"}};
  shell.env_output = "export HERALD_TEST_AMQP_URL=amqp://x/\n";
  CHECK_THROWS_WITH(find_brokers(shell.lookup(), shell.runner()), Catch::Contains("HERALD_TEST_KAFKA_BROKERS"));
}

TEST_CASE("export lines are read with or without export and quotes, anything else is skipped", "[testing][brokers]") {
  auto vars = parse_env_lines("export A=1\nB=\"two\"\n# comment\nnot a line\n=x\nC-D=3\nE=a=b\n");
  CHECK(vars == std::map<std::string, std::string>{{"A", "1"}, {"B", "two"}, {"E", "a=b"}});
}

TEST_CASE("every namespace has a name of its own, made from the test's name", "[testing][brokers]") {
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) names.insert(BrokerNamespace("Orders: a paid order!").name());
  CHECK(names.size() == 100);
  CHECK(names.begin()->rfind("orders-a-paid-order-", 0) == 0);
}

TEST_CASE("a namespace gives RabbitMQ and Kafka configurations its names and keeps the test's own", "[testing][brokers]") {
  BrokerNamespace ns("kit");
  auto amqp = ns.bus_config("amqp://guest:guest@127.0.0.1:5702/?exchange=mine");
  CHECK(amqp.url == "amqp://guest:guest@127.0.0.1:5702/");
  CHECK(amqp.options.at("exchange") == "mine");
  CHECK(amqp.options.at("queue_prefix") == ns.name() + ".");
  CHECK(amqp.options.at("queue_expires") == "5m");

  auto kafka = ns.bus_config("kafka://127.0.0.1:49092");
  CHECK(kafka.options.at("topic_prefix") == ns.name() + ".");
  CHECK(kafka.options.at("group_prefix") == ns.name() + ".");

  CHECK(ns.bus_config("memory://").options.empty());
}

TEST_CASE("a namespace's PostgreSQL URL names its schema", "[testing][brokers]") {
  BrokerNamespace ns("kit");
  CHECK(ns.schema().find('-') == std::string::npos);
  CHECK(ns.postgres_url("postgresql://h/db") == "postgresql://h/db?schema=" + ns.schema());
  CHECK(ns.postgres_url("postgresql://h/db?sslmode=disable") == "postgresql://h/db?sslmode=disable&schema=" + ns.schema());
}

TEST_CASE("the current test namespace exists between begin and end only", "[testing][brokers]") {
  herald::testing::begin_test_namespace("first");
  std::string first = herald::testing::current_test_namespace().name();
  herald::testing::begin_test_namespace("second");
  CHECK(herald::testing::current_test_namespace().name() != first);
  herald::testing::end_test_namespace();
  CHECK_THROWS_AS(herald::testing::current_test_namespace(), std::logic_error);
}
