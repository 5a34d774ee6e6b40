#pragma once
// Options of the in-process transport (memory://).

#include <chrono>
#include <cstddef>

namespace herald::memory {

/// memory://?workers=4&dispatch=async&queue_limit=100000&publish_timeout=5s
struct MemoryOptions {
  /// Threads that run handlers.
  int workers = 4;
  /// Run handlers on the publisher's thread (for tests and benchmarks);
  /// retries still wait on the scheduler.
  bool inline_dispatch = false;
  /// Events accepted but not yet handled or dead-lettered; publish blocks
  /// beyond it.
  std::size_t queue_limit = 100'000;
  /// How long publish waits for room before failing with PublishError.
  std::chrono::milliseconds publish_timeout{5'000};
};

}  // namespace herald::memory
