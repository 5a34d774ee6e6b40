#pragma once
// A TLS listener on 127.0.0.1 that presents a certificate which expired in
// 2020 (signed by the test CA) and then hangs up: what a client meets when a
// broker's certificate was not renewed. The brokers themselves present valid
// certificates, so this stands in for one that does not.

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

namespace herald::test {

class ExpiredCertServer {
 public:
  ExpiredCertServer(const std::string& cert_file, const std::string& key_file) : ctx_(SSL_CTX_new(TLS_server_method())) {
    if (!ctx_ || SSL_CTX_use_certificate_chain_file(ctx_, cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("expired-cert server: cannot load " + cert_file);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("expired-cert server: cannot listen on 127.0.0.1");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ExpiredCertServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  ExpiredCertServer(const ExpiredCertServer&) = delete;
  ExpiredCertServer& operator=(const ExpiredCertServer&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void serve() {
    // OpenSSL writes through plain write(): when a client has already hung up
    // (rabbitmq-c completes the handshake, then refuses the certificate and
    // closes while the server sends its session tickets) the write raises
    // SIGPIPE, which would kill the whole test process. Blocked here, it stays
    // pending on this thread and the write just fails with EPIPE.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (!stop_) {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      timeval tv{5, 0};
      ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, client);
      (void)SSL_accept(ssl);  // the client refuses the certificate: that is the point
      SSL_free(ssl);
      ERR_clear_error();
      ::close(client);
    }
  }

  SSL_CTX* ctx_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace herald::test
