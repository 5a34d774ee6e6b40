#include <cstdio>
#include <stdexcept>
#include <string>

#include "stream_check.hpp"

namespace herald::test {

std::string broker_script(const std::string& broker, const std::string& args) {
  const std::string line = std::string(HERALD_SOURCE_DIR) + "/scripts/brokers/" + broker + " " + args + " 2>&1";
  FILE* pipe = ::popen(line.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run '" + line + "'");
  std::string out;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  if (::pclose(pipe) != 0) throw std::runtime_error("'" + line + "' failed: " + out);
  return out;
}

}  // namespace herald::test
