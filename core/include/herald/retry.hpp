#pragma once
// Retry policy shared by every transport: exponential backoff with jitter.

#include <chrono>
#include <cstdint>

namespace herald {

/// How a failed handler is retried before its event is dead-lettered.
/// `max_attempts = N` means the handler runs exactly N times at most.
struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds initial_delay{100};
  double multiplier = 2.0;
  std::chrono::milliseconds max_delay{30'000};
  /// Fraction of the delay that is randomised: 0.2 gives delay * [0.8, 1.2].
  double jitter = 0.2;

  /// Delay before attempt `failed_attempts + 1`, given a random value in [0,1).
  std::chrono::milliseconds delay_after(int failed_attempts, double random01) const;
  /// Same, with a thread-local random source.
  std::chrono::milliseconds delay_after(int failed_attempts) const;
  /// Whether an event that failed `attempts` times gets another attempt.
  bool should_retry(int attempts) const noexcept { return attempts < max_attempts; }

  /// Throws ConfigError for nonsense values (max_attempts < 1, negative delays...).
  void validate() const;

  static RetryPolicy none() { return RetryPolicy{.max_attempts = 1}; }
};

}  // namespace herald
