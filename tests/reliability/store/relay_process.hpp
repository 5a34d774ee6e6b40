#pragma once
// A store_relay_helper child process, killed or stopped on purpose.

#include <map>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace herald::test {

/// Starts the helper relaying `store_url` as `owner`, with `env` added to
/// this process's environment (HERALD_OUTBOX_* options). With `bus_url` the
/// helper relays to that broker instead of its own in-process consumer.
/// Its output goes to the test log.
class RelayProcess : public ChildProcess {
 public:
  RelayProcess(const std::string& store_url, const std::string& owner, const std::map<std::string, std::string>& env,
               const std::string& bus_url = {})
      : ChildProcess(arguments(store_url, owner, bus_url), {.env = env, .capture_output = false}) {}

 private:
  static std::vector<std::string> arguments(const std::string& store_url, const std::string& owner,
                                            const std::string& bus_url) {
    std::vector<std::string> args{HERALD_RELAY_HELPER, store_url, owner};
    if (!bus_url.empty()) args.push_back(bus_url);
    return args;
  }
};

}  // namespace herald::test
