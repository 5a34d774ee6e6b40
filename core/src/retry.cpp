#include "herald/retry.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "herald/errors.hpp"

namespace herald {

std::chrono::milliseconds RetryPolicy::delay_after(int failed_attempts, double random01) const {
  double base = static_cast<double>(initial_delay.count()) * std::pow(multiplier, std::max(0, failed_attempts - 1));
  base = std::min(base, static_cast<double>(max_delay.count()));
  double factor = 1.0 + jitter * (2.0 * random01 - 1.0);
  double ms = std::clamp(base * factor, 0.0, static_cast<double>(max_delay.count()));
  return std::chrono::milliseconds(static_cast<long long>(std::llround(ms)));
}

std::chrono::milliseconds RetryPolicy::delay_after(int failed_attempts) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return delay_after(failed_attempts, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
}

void RetryPolicy::validate() const {
  if (max_attempts < 1) throw ConfigError("retry.max_attempts: must be at least 1, got " + std::to_string(max_attempts));
  if (initial_delay.count() < 0) throw ConfigError("retry.initial_delay: must not be negative");
  if (max_delay < initial_delay) throw ConfigError("retry.max_delay: must be at least retry.initial_delay");
  if (!(multiplier >= 1.0)) throw ConfigError("retry.multiplier: must be at least 1");
  if (!(jitter >= 0.0 && jitter <= 1.0)) throw ConfigError("retry.jitter: must be within [0, 1]");
}

}  // namespace herald
