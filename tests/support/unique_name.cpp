#include <atomic>
#include <chrono>
#include <random>
#include <string>

#include "wait.hpp"

namespace herald::test {

std::string unique_name(const std::string& prefix) {
  static const std::string run = [] {
    std::random_device rd;
    auto t = std::chrono::system_clock::now().time_since_epoch().count();
    return std::to_string(static_cast<unsigned long long>(t) % 1000000007ULL) + std::to_string(rd() % 10000);
  }();
  static std::atomic<int> counter{0};
  return prefix + "-" + run + "-" + std::to_string(++counter);
}

}  // namespace herald::test
