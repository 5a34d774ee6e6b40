#pragma once
// Small helpers shared by the benchmarks: percentiles and ratio lines.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald::bench {

using SteadyClock = std::chrono::steady_clock;

/// The environment variable `name`, or `fallback` when it is unset or empty.
inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

/// The process's user + system CPU time so far (every thread): a cost that
/// moves far less than wall-clock rates when the machine is shared.
inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

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

/// The benchmark's name in results.json (the executable sets it once).
inline std::string& bench_name() {
  static std::string name;
  return name;
}

/// One measurement for results.json: scripts/bench points HERALD_BENCH_RESULTS
/// at a file and every benchmark appends one JSON line per figure, so the
/// printed table and the machine-readable record come from the same numbers.
/// `baseline_name` empty: a figure without a baseline (a latency, a rate
/// against an absolute goal); `goal` 0: none. The goal applies to the ratio
/// when there is a baseline, unless `goal_on_herald` (a latency goal in µs
/// beside a raw client's latency). Best effort: a benchmark's figures matter
/// more than its record.
inline void record_result(const std::string& name, const std::string& unit, double herald, double baseline,
                          const std::string& baseline_name, double goal, bool lower_is_better = false,
                          bool goal_on_herald = false) {
  const char* path = std::getenv("HERALD_BENCH_RESULTS");
  if (!path || !*path) return;
  nlohmann::json r{{"bench", bench_name()}, {"name", name}, {"unit", unit}, {"herald", herald}};
  if (!baseline_name.empty()) {
    r["baseline"] = baseline;
    r["baseline_name"] = baseline_name;
    r["ratio"] = baseline > 0 ? herald / baseline : 0.0;
  } else {
    r["baseline"] = nullptr;
    r["baseline_name"] = nullptr;
    r["ratio"] = nullptr;
  }
  r["goal"] = goal > 0 ? nlohmann::json(goal) : nlohmann::json(nullptr);
  r["goal_on"] = baseline_name.empty() || goal_on_herald ? "herald" : "ratio";
  r["better"] = lower_is_better ? "lower" : "higher";
  if (std::FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%s\n", r.dump().c_str());
    std::fclose(f);
  }
}

/// "(goal >= 1.50x: met)", or "(for comparison)" for a figure without a goal.
inline std::string verdict(double ratio, double goal) {
  if (goal <= 0) return "(for comparison)";
  char text[64];
  std::snprintf(text, sizeof text, "(goal >= %.2fx: %s)", goal, ratio >= goal ? "met" : "NOT met");
  return text;
}

/// "  label            herald 1.23M/s   baseline 0.45M/s   ratio 2.73x (goal >= 1.50x: met)"
/// and its record; `baseline_name` names the baseline in results.json.
inline void print_ratio(const std::string& label, double herald, double baseline, double goal,
                        const std::string& baseline_name = "baseline", const std::string& unit = "events/s") {
  record_result(label, unit, herald, baseline, baseline_name, goal);
  double ratio = baseline > 0 ? herald / baseline : 0;
  std::printf("  %-44s herald %12.0f/s   baseline %12.0f/s   ratio %5.2fx %s\n", label.c_str(), herald, baseline, ratio,
              verdict(ratio, goal).c_str());
}

inline double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

/// The median of per-round ratios herald/baseline: each round measures both
/// on the same broker state, so its ratio is fair where a best-of-N pairs a
/// lucky round of one with an ordinary round of the other.
inline void print_round_ratios(const std::string& label, std::vector<double> ratios, double goal,
                               const std::string& baseline_name = "baseline") {
  if (ratios.empty()) return;
  std::sort(ratios.begin(), ratios.end());
  const double mid = median(ratios);
  // A ratio of ratios: herald's figure is the median ratio against a baseline of 1.
  record_result(label + " (median of per-round ratios)", "ratio", mid, 1.0, baseline_name, goal);
  std::printf("  %-44s median of %zu round ratios %5.2fx (rounds %.2f-%.2fx) %s\n", label.c_str(), ratios.size(),
              mid, ratios.front(), ratios.back(), verdict(mid, goal).c_str());
}

}  // namespace herald::bench
