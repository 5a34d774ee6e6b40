// A group member in a process of its own, for the consumer-crash test:
//
//   kafka_consumer_process <brokers> <topic_prefix> <group>
//
// Subscribes to `work.#` and prints "ready" once its partitions are
// assigned, then one line per handled event id (flushed), until killed.

#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "herald/config.hpp"
#include "test_options.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <brokers> <topic_prefix> <group>\n", argv[0]);
    return 2;
  }
  try {
    herald::BusConfig c = herald::BusConfig::from_url(std::string("kafka://") + argv[1]);
    c.options["topic_prefix"] = argv[2];
    herald::test::quick_kafka_groups(c);
    // Takes few records at a time, so a kill lands with most still to do.
    c.options["max_in_flight"] = "50";
    auto bus = herald::make_bus(c);
    auto sub = bus->subscribe({.pattern = "work.#", .group = argv[3]}, [](const herald::Envelope& e) {
      std::printf("%s\n", e.id.c_str());
      std::fflush(stdout);
      // Slow enough that the kill lands mid-stream.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    });
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // until SIGKILL
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_consumer_process: %s\n", e.what());
    return 1;
  }
}
