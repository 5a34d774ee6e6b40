#pragma once
// Where a phase's CPU went, thread by thread, and whether the machine had
// any to spare. A rate alone cannot tell a consumer that waits from one
// that is out of CPU: these two can. Linux only (/proc).
//
//   PhaseCpu phase;
//   phase.first();  ... the phase ...  phase.last();
//   phase.print("herald", records);   // "herald us of CPU per record by thread: ...; machine idle 25%"

#include <dirent.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace herald::bench {

/// Time on CPU of each live thread of this process (ns, from
/// /proc/self/task/<tid>/schedstat, which counts to the nanosecond where
/// getrusage's per-thread figure counts in ticks).
struct ThreadCpu {
  struct Thread {
    std::string name;
    std::uint64_t ns = 0;
  };
  std::map<long, Thread> threads;  // by tid

  static ThreadCpu now() {
    ThreadCpu t;
    DIR* dir = opendir("/proc/self/task");
    if (!dir) return t;
    while (dirent* d = readdir(dir)) {
      if (d->d_name[0] == '.') continue;
      const std::string base = std::string("/proc/self/task/") + d->d_name;
      Thread th;
      std::ifstream comm(base + "/comm"), sched(base + "/schedstat");
      if (!std::getline(comm, th.name) || !(sched >> th.ns)) continue;  // ended meanwhile
      t.threads[std::strtol(d->d_name, nullptr, 10)] = th;
    }
    closedir(dir);
    return t;
  }

  /// CPU seconds per thread name since `before` (threads started since
  /// count from zero; threads that ended since are not seen: take the
  /// later snapshot while the phase's threads still run). Names ending in a
  /// number (librdkafka's rdk:broker1, rdk:broker-1) are summed as one.
  std::map<std::string, double> since(const ThreadCpu& before) const {
    std::map<std::string, double> by_name;
    for (const auto& [tid, th] : threads) {
      auto old = before.threads.find(tid);
      const std::uint64_t start = old != before.threads.end() ? old->second.ns : 0;
      if (th.ns <= start) continue;
      std::string name = th.name;
      while (!name.empty() && (std::isdigit(static_cast<unsigned char>(name.back())) || name.back() == '-')) name.pop_back();
      by_name[name] += static_cast<double>(th.ns - start) / 1e9;
    }
    return by_name;
  }
};

/// The machine's CPU time, busy and idle, from /proc/stat (all cores).
struct MachineCpu {
  std::uint64_t idle = 0, total = 0;
  static MachineCpu now() {
    MachineCpu m;
    std::ifstream stat("/proc/stat");
    std::string cpu;
    stat >> cpu;  // "cpu": the sum over cores
    std::uint64_t v = 0;
    for (int i = 0; stat >> v && i < 10; ++i) {
      m.total += v;
      if (i == 3 || i == 4) m.idle += v;  // idle, iowait
    }
    return m;
  }
  /// The share of the machine's CPU left idle between this and `later` (0..1).
  double idle_share_until(const MachineCpu& later) const {
    const std::uint64_t t = later.total - total;
    return t ? static_cast<double>(later.idle - idle) / static_cast<double>(t) : 0.0;
  }
};

/// A consume phase from its first record to its last: `first()` and
/// `last()` are called where those records arrive (any thread; the caller
/// orders the two calls), `print` reports the span.
struct PhaseCpu {
  ThreadCpu threads;
  MachineCpu machine;
  std::map<std::string, double> seconds;  // CPU seconds by thread name, after last()
  double idle = 0;                        // the machine's idle share, after last()

  void first() {
    threads = ThreadCpu::now();
    machine = MachineCpu::now();
  }
  void last() {
    seconds = ThreadCpu::now().since(threads);
    idle = machine.idle_share_until(MachineCpu::now());
  }
  /// One line: microseconds of CPU per record on each busy thread, and the
  /// machine's idle share meanwhile.
  void print(const char* label, std::size_t records) const {
    std::ostringstream line;
    for (const auto& [name, s] : seconds) {
      const double us = s * 1e6 / static_cast<double>(records);
      if (us < 0.01) continue;
      char buf[96];
      std::snprintf(buf, sizeof buf, " %s %.2f", name.c_str(), us);
      line << buf;
    }
    std::printf("    %-8s us of CPU per record by thread:%s; machine idle %.0f%%\n", label, line.str().c_str(),
                idle * 100);
  }
};

}  // namespace herald::bench
