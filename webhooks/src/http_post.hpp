#pragma once
// One HTTP/1.1 POST with a deadline over the whole exchange (resolve,
// connect, TLS handshake, write, read), plain or TLS. A connection per
// request: webhooks go to other parties' endpoints, where a kept-alive
// connection closed by the peer mid-request would be one more way to fail.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace herald::webhook_detail {

struct Endpoint {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target;  // path and query, as given ("/" when absent)
  /// Parses http(s)://host[:port][/target]; throws ConfigError without echoing the URL.
  static Endpoint parse(const std::string& url, const std::string& name);
};

/// The TLS side of one https endpoint, built once when the webhook is made:
/// the CA bundle is read and parsed there (a bad `ca_file` is a ConfigError
/// at start, not a failure per event), and every request shares it
/// (OpenSSL's context is safe to share once set up).
class TlsClient {
 public:
  TlsClient(bool verify, const std::string& ca_file, const std::string& name);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;
  bool verify() const noexcept { return verify_; }
  struct Context;
  Context& context() const { return *context_; }

 private:
  bool verify_;
  std::unique_ptr<Context> context_;
};

struct HttpRequest {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpAnswer {
  int status = 0;
  std::string body_excerpt;  // at most 512 bytes, printable
  std::optional<std::chrono::seconds> retry_after;
};

/// Throws TransportError (retriable) when no answer arrives: refused,
/// reset, TLS failure, timeout. The message names `name`, never the URL.
/// `tls` is required for an https endpoint.
HttpAnswer http_post(const Endpoint& endpoint, const HttpRequest& request, std::chrono::milliseconds timeout,
                     const TlsClient* tls, const std::string& name);

}  // namespace herald::webhook_detail
