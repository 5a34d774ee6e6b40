// A consumer in its own process, for the reliability tests that kill one.
//
//   rabbitmq_consumer_process <amqp-url> <ns> <group> <pattern> <mode> <concurrency> <max_attempts>
//
// Uses the same isolation options as the tests (exchange herald.it.<ns>,
// queues herald.it.<group>). Reports on stdout, one line each: "ready" once
// subscribed, "got <id>" when a handler starts, "crash <id>" right before it
// kills itself. Modes:
//   hold   handlers never return: every delivery stays unacked
//   crash  an event of type task.poison kills the process (SIGKILL); others are handled
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <future>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>

#include "herald/config.hpp"

namespace {

void say(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::cout << line << std::endl;  // flushed: the test reads it now
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: " << argv[0] << " <amqp-url> <ns> <group> <pattern> <hold|crash> <concurrency> <max_attempts>\n";
    return 2;
  }
  const std::string url = argv[1], ns = argv[2], group = argv[3], pattern = argv[4], mode = argv[5];
  const int concurrency = std::stoi(argv[6]);
  herald::RetryPolicy retry;
  retry.max_attempts = std::stoi(argv[7]);
  retry.initial_delay = std::chrono::milliseconds(10);
  retry.jitter = 0;

  herald::BusConfig config = herald::BusConfig::from_url(url);
  config.options["exchange"] = "herald.it." + ns;
  config.options["queue_prefix"] = "herald.it.";
  config.options["queue_expires"] = "10m";
  config.options["dead_letter_expires"] = "10m";
  auto bus = herald::make_bus(config);

  std::mutex mutex;
  std::condition_variable never;
  // Events may arrive before "ready" is out; the parent reads "ready" first,
  // so handlers wait for it (a crash before it would read as a failed start).
  std::promise<void> ready;
  std::shared_future<void> announced = ready.get_future().share();
  auto sub = bus->subscribe({.pattern = pattern, .group = group, .concurrency = concurrency, .retry = retry},
                            [&](const herald::Envelope& e) {
                              announced.wait();
                              say("got " + e.id);
                              if (mode == "hold") {
                                std::unique_lock lock(mutex);
                                never.wait(lock, [] { return false; });
                              }
                              if (mode == "crash" && e.type == "task.poison") {
                                say("crash " + e.id);
                                ::kill(::getpid(), SIGKILL);
                              }
                            });
  say("ready");
  ready.set_value();
  // Runs until killed (or its stdin closes).
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
