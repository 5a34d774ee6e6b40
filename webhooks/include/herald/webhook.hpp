#pragma once
// Webhook delivery: each event a subscription receives is POSTed to an HTTP
// endpoint as a CloudEvent (HTTP binding, binary or structured mode) and
// signed per Standard Webhooks (webhook-id, webhook-timestamp,
// webhook-signature: v1,<base64 HMAC-SHA256>).
//
// A webhook is a handler: subscribe it on any bus and the group's transport
// keeps order per partition key (one in flight per key), while core's
// delivery loop retries and dead-letters it like any handler:
//   2xx                        success
//   408, 429, 5xx, no answer   retriable (TransportError): the group's backoff
//   other 4xx, 3xx             PermanentError: dead letter at once, with the
//                              status and an excerpt of the answer
//
//   auto sub = bus->subscribe({.pattern = "order.*", .group = "slack"},
//                             herald::webhook_handler({.name = "slack", .url = "https://hooks.example/x",
//                                                      .secret = "whsec_..."}));
//
// The URL and secret never appear in errors or logs: those name the webhook.

#include <chrono>
#include <functional>
#include <string>

#include "herald/envelope.hpp"

namespace herald {

struct WebhookOptions {
  /// Names the webhook in errors, dead letters and logs (never the URL).
  std::string name = "webhook";
  /// http:// or https://host[:port]/path
  std::string url;
  /// Standard Webhooks secret: "whsec_" + base64 of the key (or the base64
  /// alone). Empty: requests are not signed.
  std::string secret;
  enum class Mode { binary, structured } mode = Mode::binary;
  /// Connect + send + answer, per request.
  std::chrono::milliseconds timeout{10'000};
  /// https: check the endpoint's certificate and host name (system CAs, or ca_file).
  bool verify_tls = true;
  std::string ca_file;
};

/// A handler POSTing each event; throws ConfigError at once for a bad URL or secret.
std::function<void(const Envelope&)> webhook_handler(WebhookOptions options);

namespace webhook_detail {
/// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>": the Standard Webhooks signature.
std::string sign(const std::string& secret, const std::string& id, long long timestamp, const std::string& body);
}  // namespace webhook_detail

}  // namespace herald
