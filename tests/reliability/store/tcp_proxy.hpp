#pragma once
// A TCP forwarder on 127.0.0.1 in front of a broker, which a test stops and
// starts again to take the broker away from one client without touching the
// shared broker: stopped, it closes every forwarded connection and refuses
// new ones (connection refused), like a broker that is down.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace herald::test {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) { start(); }
  ~TcpProxy() { stop(); }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  /// The port clients connect to (the same across stop and start).
  int port() const { return port_; }

  /// Listens (again) and forwards. Throws std::runtime_error when it cannot bind.
  void start() {
    if (thread_.joinable()) return;
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw std::runtime_error("proxy: socket: " + std::string(std::strerror(errno)));
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = loopback(port_);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 16) != 0) {
      std::string why = std::strerror(errno);
      ::close(listener_);
      throw std::runtime_error("proxy: cannot listen on port " + std::to_string(port_) + ": " + why);
    }
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
  }

  /// Closes the listener and every forwarded connection. Idempotent.
  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
    for (auto& [client, upstream] : pairs_) {
      ::close(client);
      ::close(upstream);
    }
    pairs_.clear();
    ::close(listener_);
    listener_ = -1;
  }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  // Copies what is readable on `from` to `to`; false when either side ended.
  static bool pump(int from, int to) {
    char buffer[65536];
    ssize_t n = ::read(from, buffer, sizeof buffer);
    if (n <= 0) return false;
    for (ssize_t sent = 0; sent < n;) {
      ssize_t m = ::send(to, buffer + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
      if (m <= 0) return false;
      sent += m;
    }
    return true;
  }

  void run() {
    while (!stopping_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (auto& [client, upstream] : pairs_) {
        fds.push_back({client, POLLIN, 0});
        fds.push_back({upstream, POLLIN, 0});
      }
      // The timeout only bounds how long stop() waits for this thread.
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      const std::size_t polled = pairs_.size();  // a pair accepted now is polled from the next round
      std::vector<std::pair<int, int>> alive;
      for (std::size_t i = 0; i < polled; ++i) {
        auto [client, upstream] = pairs_[i];
        bool ok = true;
        if (fds[1 + 2 * i].revents) ok = pump(client, upstream);
        if (ok && fds[2 + 2 * i].revents) ok = pump(upstream, client);
        if (ok) {
          alive.emplace_back(client, upstream);
        } else {
          ::close(client);
          ::close(upstream);
        }
      }
      pairs_ = std::move(alive);
      if (fds[0].revents & POLLIN) accept_one();
    }
  }

  void accept_one() {
    int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(target_port_);
    if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      if (upstream >= 0) ::close(upstream);
      return;
    }
    pairs_.emplace_back(client, upstream);
  }

  int target_port_;
  int port_ = 0;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::vector<std::pair<int, int>> pairs_;  // touched by the thread, and by stop() after joining it
  std::thread thread_;
};

}  // namespace herald::test
