#include "ingress.hpp"

#include <charconv>
#include <cmath>
#include <ctime>

#include <nlohmann/json.hpp>

#include "herald/errors.hpp"
#include "herald/ext/options.hpp"
#include "herald/outbox.hpp"
#include "herald/webhook.hpp"
#include "ingress_parse.hpp"

namespace herald::admin {

namespace {

AdminReply refusal_reply(const IngressRefusal& r) {
  nlohmann::json body{{"error", r.message}};
  if (r.index) body["index"] = *r.index;
  return json_reply(r.status, body);
}

// The dedup key: a CloudEvent is identified by source and id together.
std::string dedup_key(const Envelope& e) { return e.source + '\n' + e.id; }

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<std::string_view> lenient_header(const HeaderFields& headers, std::string_view name) {
  try {
    return header_value(headers, name);
  } catch (const IngressRefusal&) {
    return std::nullopt;  // given twice: not a credential
  }
}

// Why the Standard Webhooks headers do not sign `body` with `secret`, or nullopt when they do.
std::optional<std::string> signature_problem(const AdminRequest& request, const std::string& secret,
                                             std::chrono::seconds tolerance) {
  auto id = lenient_header(request.headers, "webhook-id");
  auto timestamp = lenient_header(request.headers, "webhook-timestamp");
  auto signature = lenient_header(request.headers, "webhook-signature");
  if (!id || !timestamp || !signature) return "no webhook-id, webhook-timestamp and webhook-signature headers";
  long long seconds = 0;
  auto [end, ec] = std::from_chars(timestamp->data(), timestamp->data() + timestamp->size(), seconds);
  if (ec != std::errc() || end != timestamp->data() + timestamp->size())
    return "webhook-timestamp is not a whole number of seconds";
  long long now = unix_now();
  if (seconds < now - tolerance.count() || seconds > now + tolerance.count())
    return "webhook-timestamp is more than " + std::to_string(tolerance.count()) + " s away from now";
  const std::string expected = webhook_detail::sign(secret, std::string(*id), seconds, std::string(request.body));
  // A space-separated list ("v1,<sig> v1,<other>", key rotation): one match is enough.
  std::string_view rest = *signature;
  while (!rest.empty()) {
    auto space = rest.find(' ');
    std::string_view one = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (same_token(one, expected)) return std::nullopt;
  }
  return "webhook-signature does not match the body";
}

}  // namespace

Ingress::Ingress(EventBus& bus, IngressOptions options)
    : bus_(bus),
      options_(std::move(options)),
      durable_(dynamic_cast<OutboxBus*>(&bus) != nullptr),
      catalog_(options_.catalog ? options_.catalog : bus.decode_options().catalog),
      tokens_(static_cast<double>(options_.burst)),
      refilled_(SteadyClock::now()) {
  if (options_.token.empty() && options_.secret.empty() && !options_.allow_unauthenticated)
    throw ConfigError("ingress: give a token or a secret (or allow_unauthenticated on a trusted listener)");
  if (!options_.secret.empty()) webhook_detail::sign(options_.secret, "check", 0, "");  // a bad secret fails here
  if (!(options_.rate_per_second >= 0) || std::isinf(options_.rate_per_second))
    throw ConfigError("ingress: rate_per_second must be a finite number, 0 or more");
  if (options_.rate_per_second > 0 && options_.burst == 0)
    throw ConfigError("ingress: burst must be at least 1 with a rate limit");
  if (options_.max_body_bytes == 0) throw ConfigError("ingress: max_body_bytes must be at least 1");
  if (options_.signature_tolerance.count() < 0) throw ConfigError("ingress: signature_tolerance must not be negative");
}

std::optional<AdminReply> Ingress::refuse_unauthenticated(const AdminRequest& request) const {
  if (options_.token.empty() && options_.secret.empty()) return std::nullopt;  // allow_unauthenticated
  std::string why;
  if (!options_.token.empty()) {
    constexpr std::string_view scheme = "bearer ";
    std::string_view given = request.authorization;
    bool bearer = given.size() > scheme.size();
    for (std::size_t i = 0; bearer && i < scheme.size(); ++i)
      bearer = std::tolower(static_cast<unsigned char>(given[i])) == scheme[i];
    if (bearer && same_token(given.substr(scheme.size()), options_.token)) return std::nullopt;
    why = bearer ? "the bearer token is not the ingress's" : "no 'Authorization: Bearer <token>'";
  }
  if (!options_.secret.empty()) {
    auto problem = signature_problem(request, options_.secret, options_.signature_tolerance);
    if (!problem) return std::nullopt;
    why += (why.empty() ? "" : "; ") + *problem;
  }
  return json_reply(401, {{"error", "unauthenticated: " + why}});
}

std::optional<AdminReply> Ingress::refuse_over_rate() {
  if (options_.rate_per_second <= 0) return std::nullopt;
  auto now = SteadyClock::now();
  double elapsed = std::chrono::duration<double>(now - refilled_).count();
  refilled_ = now;
  tokens_ = std::min(static_cast<double>(options_.burst), tokens_ + elapsed * options_.rate_per_second);
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return std::nullopt;
  }
  auto wait = static_cast<long long>(std::ceil((1 - tokens_) / options_.rate_per_second));
  wait = std::max(1LL, wait);
  AdminReply reply = json_reply(429, {{"error", "rate limit: at most " + std::to_string(options_.rate_per_second) +
                                                    " requests per second (burst " + std::to_string(options_.burst) +
                                                    ")"}});
  reply.headers.emplace_back("Retry-After", std::to_string(wait));
  return reply;
}

void Ingress::forget_expired(SteadyClock::time_point now) {
  while (!seen_order_.empty() &&
         (now - seen_order_.front().first >= options_.dedup_window || seen_order_.size() > options_.dedup_capacity)) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
}

AdminReply Ingress::publish(const AdminRequest& request) {
  if (request.body.size() > options_.max_body_bytes)
    return json_reply(413, {{"error", "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes"}});
  ParsedEvents parsed;
  try {
    parsed = parse_ingress(request.headers, request.body, bus_.decode_options());
  } catch (const IngressRefusal& r) {
    return refusal_reply(r);
  }
  const bool batch = parsed.mode == IngressMode::batch;
  if (catalog_) {
    for (std::size_t i = 0; i < parsed.events.size(); ++i) {
      if (auto violation = catalog_->violation(parsed.events[i])) {
        IngressRefusal r{400, std::string(batch ? "batch[" + std::to_string(i) + "]: " : "") + violation->what(),
                         batch ? std::optional<std::size_t>(i) : std::nullopt};
        return refusal_reply(r);
      }
    }
  }

  const bool dedup = options_.dedup_window.count() > 0 && options_.dedup_capacity > 0;
  std::vector<Envelope> fresh;
  std::vector<std::string> keys;
  std::size_t duplicates = 0;
  {
    std::unordered_set<std::string> in_request;
    if (dedup) forget_expired(SteadyClock::now());
    for (auto& e : parsed.events) {
      std::string key = dedup_key(e);
      if (dedup && (seen_.count(key) || !in_request.insert(key).second)) {
        ++duplicates;
        continue;
      }
      keys.push_back(std::move(key));
      fresh.push_back(std::move(e));
    }
  }
  const std::size_t accepted = fresh.size();
  if (!fresh.empty()) {
    try {
      bus_.publish(std::move(fresh));
    } catch (const SchemaError& e) {
      return json_reply(400, {{"error", e.what()}});
    } catch (const DecodeError& e) {
      return json_reply(400, {{"error", e.what()}});
    } catch (const ConfigError& e) {
      return json_reply(400, {{"error", e.what()}});  // a type no route takes, a bad type name
    } catch (const Error& e) {
      return json_reply(e.retriable() ? 503 : 500, {{"error", std::string("not published: ") + e.what()}});
    }
  }
  if (dedup) {
    const auto now = SteadyClock::now();
    for (auto& key : keys) {
      if (seen_.insert(key).second) seen_order_.emplace_back(now, std::move(key));
    }
    forget_expired(now);
  }
  return json_reply(durable_ ? 202 : 200, {{"accepted", accepted}, {"duplicates", duplicates}, {"durable", durable_}});
}

AdminReply Ingress::handle(const AdminRequest& request) noexcept {
  try {
    try {
      if (auto refused = refuse_unauthenticated(request)) return *refused;
      std::lock_guard lock(mutex_);
      if (auto refused = refuse_over_rate()) return *refused;
      return publish(request);
    } catch (const Error& e) {
      return json_reply(e.retriable() ? 503 : 500, {{"error", e.what()}});
    } catch (const std::exception& e) {
      return json_reply(500, {{"error", e.what()}});
    }
  } catch (...) {
    return {500, "application/json", R"({"error":"internal error"})"};
  }
}

namespace {

template <class T>
T number_of(const nlohmann::json& value, const std::string& key, double min) {
  if (!value.is_number()) throw ConfigError("ingress: " + key + " must be a number");
  double v = value.get<double>();
  if (!(v >= min) || std::isinf(v)) throw ConfigError("ingress: " + key + " must be at least " + std::to_string(min));
  if constexpr (std::is_integral_v<T>) {
    if (v != std::floor(v) || v > 1e15) throw ConfigError("ingress: " + key + " must be a whole number");
  }
  return static_cast<T>(v);
}

// A duration as the rest of the config writes one ("300s", "10m"; "0s": off).
std::chrono::seconds seconds_of(const nlohmann::json& value, const std::string& key) {
  auto d = value.is_string() ? parse_duration(value.get<std::string>()) : std::nullopt;
  if (!d) throw ConfigError("ingress: " + key + " must be a duration such as \"300s\" or \"10m\"");
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

std::string text_of(const nlohmann::json& value, const std::string& key) {
  if (!value.is_string()) throw ConfigError("ingress: " + key + " must be a string");
  return value.get<std::string>();
}

}  // namespace

IngressOptions IngressOptions::from_json(const nlohmann::json& object) {
  if (!object.is_object()) throw ConfigError("ingress: the configuration must be a JSON object");
  IngressOptions o;
  for (const auto& [key, value] : object.items()) {
    if (key == "token") {
      o.token = text_of(value, key);
    } else if (key == "secret") {
      o.secret = text_of(value, key);
    } else if (key == "signature_tolerance") {
      o.signature_tolerance = seconds_of(value, key);
    } else if (key == "allow_unauthenticated") {
      if (!value.is_boolean()) throw ConfigError("ingress: allow_unauthenticated must be true or false");
      o.allow_unauthenticated = value.get<bool>();
    } else if (key == "max_body_bytes") {
      o.max_body_bytes = number_of<std::uint64_t>(value, key, 1);
    } else if (key == "rate_per_second") {
      o.rate_per_second = number_of<double>(value, key, 0);
    } else if (key == "burst") {
      o.burst = number_of<std::size_t>(value, key, 1);
    } else if (key == "dedup_window") {
      o.dedup_window = seconds_of(value, key);
    } else if (key == "dedup_capacity") {
      o.dedup_capacity = number_of<std::size_t>(value, key, 0);
    } else {
      throw ConfigError("ingress: unknown key '" + key +
                        "' (known: token, secret, signature_tolerance, allow_unauthenticated, max_body_bytes, "
                        "rate_per_second, burst, dedup_window, dedup_capacity)");
    }
  }
  return o;
}

}  // namespace herald::admin
