#pragma once
// Small helpers shared by the benchmarks: percentiles and ratio lines.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace herald::bench {

using SteadyClock = std::chrono::steady_clock;

inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

/// p in [0, 100] of samples in microseconds (sorts them).
inline double percentile_us(std::vector<double>& samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples.size() - 1));
  return samples[idx];
}

/// "  label            herald 1.23M/s   baseline 0.45M/s   ratio 2.73x (goal >= 1.50x: met)"
inline void print_ratio(const std::string& label, double herald, double baseline, double goal) {
  double ratio = baseline > 0 ? herald / baseline : 0;
  std::printf("  %-34s herald %12.0f/s   baseline %12.0f/s   ratio %5.2fx (goal >= %.2fx: %s)\n", label.c_str(), herald,
              baseline, ratio, goal, ratio >= goal ? "met" : "NOT met");
}

/// The median of per-round ratios herald/baseline: each round measures both
/// on the same broker state, so its ratio is fair where a best-of-N pairs a
/// lucky round of one with an ordinary round of the other.
inline void print_round_ratios(const std::string& label, std::vector<double> ratios, double goal) {
  if (ratios.empty()) return;
  std::sort(ratios.begin(), ratios.end());
  const double median = ratios.size() % 2 ? ratios[ratios.size() / 2]
                                          : (ratios[ratios.size() / 2 - 1] + ratios[ratios.size() / 2]) / 2;
  std::printf("  %-34s median of %zu round ratios %5.2fx (rounds %.2f-%.2fx; goal >= %.2fx: %s)\n", label.c_str(),
              ratios.size(), median, ratios.front(), ratios.back(), goal, median >= goal ? "met" : "NOT met");
}

}  // namespace herald::bench
