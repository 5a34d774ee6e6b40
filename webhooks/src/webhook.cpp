// A webhook is a handler: it turns the endpoint's answer into the verdict
// core's delivery loop acts on (success, retry, dead letter).

#include "herald/webhook.hpp"

#include <memory>

#include "herald/codec.hpp"
#include "herald/errors.hpp"
#include "herald/ext/attributes.hpp"
#include "herald/ext/binary_data.hpp"
#include "http_post.hpp"
#include "signing_key.hpp"

namespace herald {

namespace {

using webhook_detail::Endpoint;
using webhook_detail::HttpAnswer;
using webhook_detail::HttpRequest;
using webhook_detail::SigningKey;
using webhook_detail::TlsClient;

// HTTP binding: header values are percent-encoded outside printable ASCII,
// and space, '"' and '%' themselves.
std::string header_value(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c > 0x20 && c < 0x7f && c != '"' && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

HttpRequest binary_request(const Envelope& e) {
  HttpRequest r;
  ext::for_each_attribute([&](auto i) {
    constexpr const ext::Attribute& a = ext::attributes[i];
    if constexpr (a.text != &Envelope::datacontenttype)
      if (ext::is_set(e, a)) r.headers.emplace_back("ce-" + std::string(a.name), header_value(ext::to_text(e, a)));
  });
  for (const auto& [name, value] : e.extensions) {
    if (name == "database64") continue;  // the bytes travel as they are
    r.headers.emplace_back("ce-" + name, header_value(value.is_string() ? value.get<std::string>() : value.dump()));
  }
  if (!e.data.empty()) {
    r.headers.emplace_back("content-type", e.datacontenttype);
    r.body = ext::binary_data(e);
  }
  return r;
}

HttpRequest structured_request(const Envelope& e) {
  HttpRequest r;
  r.headers.emplace_back("content-type", std::string(cloudevents_json));
  r.body = encode(e);
  return r;
}

long long unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::function<void(const Envelope&)> webhook_handler(WebhookOptions options) {
  if (options.timeout.count() <= 0) throw ConfigError("webhook '" + options.name + "': timeout must be positive");
  // Everything that can be wrong with the settings fails here, once, not per event.
  auto o = std::make_shared<const WebhookOptions>(std::move(options));
  auto endpoint = std::make_shared<const Endpoint>(Endpoint::parse(o->url, o->name));
  auto key = o->secret.empty() ? nullptr : std::make_shared<const SigningKey>(o->secret);
  auto tls = endpoint->tls ? std::make_shared<const TlsClient>(o->verify_tls, o->ca_file, o->name) : nullptr;
  return [o, endpoint, key, tls](const Envelope& event) {
    HttpRequest request = o->mode == WebhookOptions::Mode::binary ? binary_request(event) : structured_request(event);
    if (key) {
      // webhook-id is the event id: a receiver deduplicates redeliveries by it.
      const long long now = unix_seconds();
      request.headers.emplace_back("webhook-id", event.id);
      request.headers.emplace_back("webhook-timestamp", std::to_string(now));
      request.headers.emplace_back("webhook-signature", key->sign(event.id, now, request.body));
    }
    HttpAnswer answer = webhook_detail::http_post(*endpoint, request, o->timeout, tls.get(), o->name);
    if (answer.status >= 200 && answer.status < 300) return;
    std::string why = "webhook '" + o->name + "': HTTP " + std::to_string(answer.status);
    if (answer.retry_after) why += " (Retry-After " + std::to_string(answer.retry_after->count()) + " s)";
    if (!answer.body_excerpt.empty()) why += ": " + answer.body_excerpt;
    if (answer.status == 408 || answer.status == 429 || answer.status >= 500) {
      if (answer.retry_after) throw RetryLaterError(why, *answer.retry_after);
      throw TransportError(why);
    }
    // The endpoint refused this event (a 4xx) or sent it elsewhere (3xx): again would not help.
    throw PermanentError(why);
  };
}

}  // namespace herald
