#pragma once
// Result of a raw-client baseline run, shared by every raw baseline
// (raw_kafka.hpp, raw_rabbitmq.hpp). Define it here only, once.

#include <cstddef>

namespace herald::bench {

struct RawRate { std::size_t messages = 0; double seconds = 0; double per_second() const { return seconds > 0 ? messages / seconds : 0; } };

}  // namespace herald::bench
