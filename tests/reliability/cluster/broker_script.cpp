#include <cstdio>
#include <stdexcept>
#include <string>

#include "child_process.hpp"
#include "stream_check.hpp"

namespace herald::test {

std::string broker_script(const std::string& broker, const std::string& args) {
  const std::string line = std::string(HERALD_SOURCE_DIR) + "/scripts/brokers/" + broker + " " + args + " 2>&1";
  auto run = run_shell(line);
  if (run.exit_code != 0) throw std::runtime_error("'" + line + "' failed: " + run.output);
  return run.output;
}

}  // namespace herald::test
