#pragma once
// Test support: drive scripts/brokers/rabbitmq (located through the
// HERALD_SOURCE_DIR compile definition).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "broker_command.hpp"
#include "herald/config.hpp"
#include "wait.hpp"

namespace herald::test {

/// Runs `scripts/brokers/rabbitmq <command>` (broker_command.hpp); throws when it fails.
inline void rabbitmq_script(const std::string& command) {
  const std::string line = broker_command("rabbitmq") + " " + command + " >/dev/null";
  if (std::system(line.c_str()) != 0) throw std::runtime_error("'" + line + "' failed");
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return open;
}

/// kill -9 the broker, then start it again. The killed VM's helper processes
/// can hold the listening socket for a moment after `kill9` returns, and
/// `start` refuses a port in use, so wait for the port to close in between.
inline void crash_and_restart_rabbitmq(int port) {
  rabbitmq_script("kill9");
  if (!wait_until([&] { return !port_open(port); }, std::chrono::seconds(30)))
    throw std::runtime_error("port " + std::to_string(port) + " still open 30 s after kill9");
  rabbitmq_script("start");
}

}  // namespace herald::test
