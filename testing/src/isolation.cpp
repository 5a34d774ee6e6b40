#include "herald/testing/isolation.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>

namespace herald::testing {

std::string transport_from_env(const std::string& fallback) {
  const char* url = std::getenv("HERALD_TEST_URL");
  return url && *url ? std::string(url) : fallback;
}

std::string unique_name(const std::string& prefix) {
  // Time alone repeats across processes started in the same tick; the random
  // part keeps parallel ctest runs apart.
  static const std::string run = [] {
    std::random_device rd;
    auto t = static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count());
    return std::to_string(t % 1000000007ULL) + std::to_string(rd() % 10000);
  }();
  static std::atomic<int> counter{0};
  return prefix + "-" + run + "-" + std::to_string(++counter);
}

BusConfig namespaced(BusConfig config, const std::string& prefix) {
  if (config.url.find('?') != std::string::npos) {
    BusConfig parsed = BusConfig::from_url(config.url);
    config.url = parsed.url;
    for (auto& [key, value] : parsed.options) config.options.emplace(key, value);
  }
  std::string scheme = config.url.substr(0, config.url.find(':'));
  std::string space = unique_name(prefix);
  if (scheme == "amqp" || scheme == "amqps") {
    config.options.emplace("exchange", space);
    config.options.emplace("queue_prefix", space + ".");
  } else if (scheme == "kafka") {
    config.options.emplace("topic_prefix", space + ".");
    config.options.emplace("group_prefix", space + ".");
  }
  return config;
}

}  // namespace herald::testing
