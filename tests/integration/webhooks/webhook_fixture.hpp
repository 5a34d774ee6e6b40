#pragma once
// What the webhook tests share: the receiver (receiver.py) as a child
// process, the transports every test body runs on, a bus per test.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "herald/config.hpp"
#include "herald/retry.hpp"
#include "herald/testing/isolation.hpp"
#include "herald/webhook.hpp"
#include "wait.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace webhook_test {

inline const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Receiver {
  test::ChildProcess process;
  int port = 0;
  std::vector<nlohmann::json> accepted;

  explicit Receiver(std::vector<std::string> extra = {})
      : process([&] {
          std::vector<std::string> args{HERALD_WEBHOOK_PYTHON, HERALD_WEBHOOK_RECEIVER, secret, "--standardwebhooks"};
          args.insert(args.end(), extra.begin(), extra.end());
          return args;
        }()) {
    auto first = process.read_line(10s);
    REQUIRE(first);
    REQUIRE(first->rfind("port ", 0) == 0);
    port = std::stoi(first->substr(5));
  }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port) + "/hooks/orders?token=t";
  }
  /// Reads what the endpoint accepted so far (waits up to `wait` for each line).
  std::size_t read(std::chrono::milliseconds wait = 100ms) {
    while (auto line = process.read_line(wait)) accepted.push_back(nlohmann::json::parse(*line));
    return accepted.size();
  }
  /// Reads for at most `budget`: while events keep flowing, read() would
  /// never see the gap that ends it.
  std::size_t read_for(std::chrono::milliseconds budget) {
    const auto end = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < end) {
      auto line = process.read_line(5ms);
      if (!line) break;
      accepted.push_back(nlohmann::json::parse(*line));
    }
    return accepted.size();
  }
};

inline std::vector<std::string> transports() {
  return {"memory://", test::env_or("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
          "kafka://" + test::env_or("HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:9092")};
}

inline std::unique_ptr<EventBus> make_test_bus(const std::string& url) {
  return make_bus(testing::namespaced(BusConfig::from_url(url), "herald-webhook"));
}

inline RetryPolicy quick_retries(int attempts) {
  RetryPolicy r;
  r.max_attempts = attempts;
  r.initial_delay = 20ms;
  r.max_delay = 5s;  // the ceiling for an endpoint's Retry-After
  r.multiplier = 1.5;
  return r;
}

}  // namespace webhook_test

using namespace webhook_test;
