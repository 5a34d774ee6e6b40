#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

#include "child_process.hpp"
#include "stream_check.hpp"

namespace herald::test {

namespace {

// The shell line that runs scripts/brokers/<broker> <args>, its output to stdout.
std::string script_line(const std::string& broker, const std::string& args) {
  return std::string(HERALD_SOURCE_DIR) + "/scripts/brokers/" + broker + " " + args + " 2>&1";
}

}  // namespace

std::string broker_script(const std::string& broker, const std::string& args) {
  const std::string line = script_line(broker, args);
  auto run = run_shell(line);
  if (run.exit_code != 0) throw std::runtime_error("'" + line + "' failed: " + run.output);
  return run.output;
}

ClusterForTest::ClusterForTest(std::string broker) : broker_(std::move(broker)) {
  started_here_ = run_shell(script_line(broker_, "cluster status")).exit_code != 0;
  try {
    broker_script(broker_, "cluster start");
  } catch (...) {
    // The nodes that did come up would outlive the test.
    if (started_here_) run_shell(script_line(broker_, "cluster stop"));
    throw;
  }
}

ClusterForTest::~ClusterForTest() {
  try {
    broker_script(broker_, started_here_ ? "cluster stop" : "cluster start");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
  }
}

}  // namespace herald::test
