#pragma once
// One readable line per thing that happens, safe from any thread.

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace orders {

/// The tail of a UUIDv7: its head is the time, the same for events of one moment.
inline std::string short_id(const std::string& id) { return id.size() > 12 ? "…" + id.substr(id.size() - 12) : id; }

inline std::string money(double amount) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", amount);
  return buf;
}

inline void say(const std::string& who, const std::string& what) {
  static std::mutex mutex;
  static const auto start = std::chrono::steady_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard lock(mutex);
  std::printf("[%5lld ms] %-14s %s\n", static_cast<long long>(ms), who.c_str(), what.c_str());
  std::fflush(stdout);
}

}  // namespace orders
