#pragma once
// One delivery on its way to a group's workers (core's KeyedExecutor: jobs
// with the same key, the event's partitionkey, run one at a time in arrival
// order; others in parallel up to the group's concurrency). Private to
// herald::rabbitmq.

#include <cstdint>
#include <string>

#include "message.hpp"

namespace herald::rabbitmq {

/// One delivery waiting for a worker. `generation` names the channel it came
/// on: a job from a channel that is gone must not be acked.
struct Job {
  std::uint64_t generation = 0;
  int source = 0;  // which of the group's channels it came on
  Delivery delivery;
  std::string key;
};

}  // namespace herald::rabbitmq
