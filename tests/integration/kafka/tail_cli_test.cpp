// `herald tail` on Kafka, run as a child process: it prints what arrives
// and, once it exits, leaves no group position and no topic of its own.

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "kafka_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// HERALD_TEST_CLI runs another build of herald (an older one, to see the test fail).
std::string cli() { return env_or("HERALD_TEST_CLI", HERALD_CLI); }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("herald tail on kafka prints what arrives and leaves no group position or topic behind",
          "[kafka][ephemeral][cli]") {
  KafkaFixture f;
  const std::string url = "kafka://" + kafka_brokers() + "?topic_prefix=herald-it." + f.ns +
                          ".&kafka.consumer.heartbeat.interval.ms=250&kafka.consumer.session.timeout.ms=6000";
  f.bus->publish(Envelope::make("cache.invalidated", {{"key", "before"}}));  // the topic exists; not for the tail
  const std::string err_path = "/tmp/" + f.ns + "-tail.err";
  std::string output;
  std::thread tail([&] {
    std::string command = "env -u HERALD_URL timeout 60 " + cli() + " tail 'cache.#' --url '" + url +
                          "' --count 1 --seconds 50 2>" + err_path;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
    pclose(pipe);
  });
  // It says so once it is subscribed.
  const bool tailing = wait_until([&] { return read_file(err_path).find("tailing") != std::string::npos; }, deadline);
  Envelope event = Envelope::make("cache.invalidated", {{"key", "after"}});
  if (tailing) f.bus->publish(event);
  tail.join();
  std::remove(err_path.c_str());
  REQUIRE(tailing);
  CHECK(output.find(event.id) != std::string::npos);
  CHECK(output.find("before") == std::string::npos);

  // Nothing kept: no retry or dead-letter topic beside the event topic, and
  // no tail group with a position on it.
  CHECK(topics_starting_with(f.topic("cache")) == std::vector<std::string>{f.topic("cache")});
  for (const auto& group : groups_starting_with("herald-tail"))
    for (int p = 0; p < 3; ++p) CHECK(committed_offset(group, f.topic("cache"), p) == -1);
}
