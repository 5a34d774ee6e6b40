// `herald tail` on RabbitMQ reads as a subscription of its own: once it ends,
// by itself or killed, nothing of it stays on the broker (an earlier version
// left a durable queue `herald-tail` collecting events forever).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "herald/errors.hpp"
#include "raw_broker.hpp"

extern char** environ;

using namespace herald;
using namespace herald::test;

namespace {


// HERALD_TEST_CLI runs another build of herald (an older one, to see the test fail).
std::string cli() { return env_or("HERALD_TEST_CLI", HERALD_CLI); }

// `herald <args>` with its output in `out_file`.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& out_file) {
  std::vector<std::string> argv_s{cli()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  return pid;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exited(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

TEST_CASE("herald tail leaves no queue on the broker, whether it ends by itself or is killed",
          "[rabbitmq][ephemeral][cli]") {
  const std::string ns = unique_name("tail");
  auto bus = make_bus(isolated_config(ns, {{"unroutable", "error"}}));
  // queue_expires only so that a version leaving its queue behind cleans up after the test.
  const std::string url =
      amqp_url() + "?exchange=herald.it." + ns + "&queue_prefix=herald.it.&unroutable=error&queue_expires=1m";
  const std::string out = "/tmp/herald-tail-" + ns + ".out";
  const bool kill_it = GENERATE(false, true);
  INFO((kill_it ? "killed with SIGKILL" : "ends after one event"));

  std::vector<std::string> args{"tail", "probe.#", "--url", url};
  if (!kill_it) args.insert(args.end(), {"--count", "1"});
  const pid_t pid = spawn_cli(args, out);
  REQUIRE(pid > 0);
  // Unroutable until the tail has subscribed; then it prints what follows.
  const bool printed = wait_until(
      [&] {
        unroutable(*bus, "probe.seen");
        return read_file(out).find("probe.seen") != std::string::npos;
      },
      deadline);
  if (kill_it) kill(pid, SIGKILL);
  const bool ended = wait_until([&] { return exited(pid); }, deadline);
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  INFO(read_file(out));
  REQUIRE(printed);
  REQUIRE(ended);

  // The broker dropped its queue with its connection: no queue is bound any more.
  CHECK(wait_until([&] { return unroutable(*bus, "probe.after"); }, deadline));
  std::remove(out.c_str());
}
