#pragma once
// A store_relay_helper child process (posix_spawn), killed or stopped on purpose.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace herald::test {

class RelayProcess {
 public:
  /// Starts the helper relaying `store_url` as `owner`, with `env` added to
  /// this process's environment (HERALD_OUTBOX_* options).
  /// With `bus_url` the helper relays to that broker instead of its own
  /// in-process consumer.
  RelayProcess(const std::string& store_url, const std::string& owner, const std::map<std::string, std::string>& env,
               const std::string& bus_url = {}) {
    std::vector<std::string> args{HERALD_RELAY_HELPER, store_url, owner};
    if (!bus_url.empty()) args.push_back(bus_url);
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
      std::string v(*e);
      if (!env.count(v.substr(0, v.find('=')))) vars.push_back(v);
    }
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    int rc = posix_spawn(&pid_, HERALD_RELAY_HELPER, nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) throw std::runtime_error(std::string("posix_spawn " HERALD_RELAY_HELPER ": ") + std::strerror(rc));
  }
  ~RelayProcess() {
    if (pid_ > 0) kill9();
  }
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  /// SIGKILL and reap: no chance to finish a batch or release a lease.
  void kill9() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  /// SIGTERM and reap; returns the exit code (-1 for a signal).
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  /// Whether it is still running (it exits early when it cannot start).
  bool running() {
    int status = 0;
    return pid_ > 0 && waitpid(pid_, &status, WNOHANG) == 0;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace herald::test
