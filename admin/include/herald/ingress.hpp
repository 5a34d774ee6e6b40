#pragma once
// CloudEvents HTTP ingress: POST /v1/events on the admin endpoint
// (herald/admin.hpp, Options::ingress) publishes what other systems send
// over HTTP, in the binding's binary, structured and batched modes
// (docs/webhooks.md, "Ingress").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "herald/catalog.hpp"

namespace herald::admin {

/// How POST /v1/events authenticates, bounds and deduplicates. Requests are
/// checked in this order: body size (413, before the body is read),
/// authentication (401), rate (429 with Retry-After), content (400, naming
/// the problem; 415 for a structured format other than JSON), then
/// published: 202 Accepted through an OutboxBus (durably stored: the relay
/// delivers it), 200 OK on any other bus (the transport accepted it).
struct IngressOptions {
  /// Accepted as `Authorization: Bearer <token>`. Compared in constant time.
  std::string token;
  /// Standard Webhooks secret ("whsec_<base64>"): accepted when the
  /// webhook-id, webhook-timestamp and webhook-signature headers sign the
  /// body with it. With both `token` and `secret`, either one passes.
  std::string secret;
  /// How far webhook-timestamp may be from now, either way.
  std::chrono::seconds signature_tolerance{300};
  /// Neither token nor secret: refused at start (ConfigError) unless this
  /// is true (a loopback listener in tests).
  bool allow_unauthenticated = false;
  /// Largest request body; beyond it 413 and the connection is closed.
  std::uint64_t max_body_bytes = 1024 * 1024;
  /// Requests per second refilled into a bucket of `burst`; an empty bucket
  /// answers 429 with Retry-After. 0: no rate limit.
  double rate_per_second = 100;
  std::size_t burst = 200;
  /// An event whose (source, id) was published within this window is
  /// acknowledged again and not published twice. 0: no deduplication.
  std::chrono::seconds dedup_window{600};
  /// Most (source, id) pairs remembered; past it the oldest are forgotten
  /// before their window ends (memory stays bounded).
  std::size_t dedup_capacity = 100'000;
  /// Schemas the events' data must validate against before anything is
  /// published. Null: the bus's (BusConfig decode.catalog), if any.
  std::shared_ptr<const Catalog> catalog;

  /// From a JSON object (a config file's "ingress") with the keys token,
  /// secret, signature_tolerance ("300s"), allow_unauthenticated,
  /// max_body_bytes, rate_per_second, burst, dedup_window ("10m"),
  /// dedup_capacity (each optional; "${VAR}" is expanded by the config
  /// file's reader, not here). Throws ConfigError naming an unknown key or a bad value.
  static IngressOptions from_json(const nlohmann::json& object);
};

}  // namespace herald::admin
