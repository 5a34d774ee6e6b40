// A group member in a process of its own, for the conformance tests that
// kill one:
//
//   conformance_consumer <bus-url> <store-url|-> <group> <pattern> <mode> <concurrency> <max_attempts>
//
// <bus-url> carries the transport's options in its query (url_of). With a
// store URL the consumer subscribes through an OutboxBus over that store,
// without a relay of its own. Reports on stdout, one flushed line each:
// "ready" once subscribed, "got <id>" when a handler starts, "crash <id>"
// right before it kills itself. Modes:
//   hold   handlers never return: every delivery stays unfinished
//   crash  an event of type task.poison kills the process (SIGKILL); others are handled
//   work   every event is handled, slowly (2 ms), so a kill lands mid-stream
// Runs until killed (or its stdin closes).

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <exception>
#include <future>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "herald/config.hpp"
#include "herald/outbox.hpp"

namespace {

void say(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::cout << line << std::endl;  // flushed: the test reads it now
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: " << argv[0]
              << " <bus-url> <store-url|-> <group> <pattern> <hold|crash|work> <concurrency> <max_attempts>\n";
    return 2;
  }
  const std::string url = argv[1], store = argv[2], group = argv[3], pattern = argv[4], mode = argv[5];
  try {
    const int concurrency = std::stoi(argv[6]);
    herald::RetryPolicy retry;
    retry.max_attempts = std::stoi(argv[7]);
    retry.initial_delay = std::chrono::milliseconds(10);
    retry.jitter = 0;

    const herald::BusConfig config = herald::BusConfig::from_url(url);
    std::unique_ptr<herald::EventBus> bus;
    if (store == "-")
      bus = herald::make_bus(config);
    else
      bus = herald::make_outbox_bus(config, store, {.run_relay = false});

    std::mutex mutex;
    std::condition_variable never;
    // Events may arrive before "ready" is out; the parent reads "ready"
    // first, so handlers wait for it (a crash before it would read as a
    // failed start).
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
                                if (mode == "work") std::this_thread::sleep_for(std::chrono::milliseconds(2));
                              });
    say("ready");
    ready.set_value();
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "conformance_consumer: " << e.what() << "\n";
    return 1;
  }
}
