// herald webhooks list | status | test: the webhook subscriptions a config
// file defines, what their groups have left, and one test delivery.

#include <iostream>

#include "commands.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/webhook_set.hpp"

namespace herald::cli {

namespace {

BusConfig config_of(const std::string& file) {
  return file.empty() ? BusConfig::from_env() : BusConfig::from_file(file);
}

void print_subscription(const WebhookSubscription& w) {
  std::cout << w.name << "  " << w.pattern << " -> " << webhook_endpoint_label(w.options.url) << "  group " << w.group
            << "  " << (w.options.mode == WebhookOptions::Mode::binary ? "binary" : "structured") << "  in-flight "
            << w.max_in_flight << "  attempts " << w.retry.max_attempts << (w.options.secret.empty() ? "  unsigned" : "  signed")
            << (w.enabled ? "" : "  [disabled]") << '\n';
}

void list(const std::string& file) {
  auto subs = webhook_subscriptions(config_of(file).webhooks);
  if (subs.empty()) std::cout << "no webhooks configured\n";
  for (const auto& w : subs) print_subscription(w);
}

// What each webhook's group has left on the transport: pending, retrying, dead.
void status(const std::string& file) {
  BusConfig config = config_of(file);
  auto subs = webhook_subscriptions(config.webhooks);
  if (subs.empty()) {
    std::cout << "no webhooks configured\n";
    return;
  }
  config.outbox.clear();  // the groups live on the transport
  auto bus = make_bus(config);
  for (const auto& w : subs) {
    print_subscription(w);
    GroupBacklog b = bus->backlog(w.group, w.pattern);
    if (!b.known)
      std::cout << "    backlog: this transport cannot tell\n";
    else if (!b.exists)
      std::cout << "    backlog: the group does not exist on the transport yet\n";
    else
      std::cout << "    pending " << b.pending << "  retrying " << b.retrying << "  dead letters " << b.dead << '\n';
    for (const auto& d : bus->dead_letters(w.group, 3))
      std::cout << "    dead letter " << d.event.id << " (" << d.event.type << "): " << d.reason << ": " << d.last_error << '\n';
  }
  bus->close();
}

struct TestArgs {
  std::string url, secret, mode = "binary", type = "herald.webhook.test", data = "{\"hello\":\"from herald\"}", timeout = "10s";
  bool insecure = false;
};

int test(const TestArgs& a) {
  WebhookOptions options{.name = "test", .url = a.url, .secret = a.secret, .timeout = duration_option(a.timeout, "--timeout")};
  if (a.mode == "structured") options.mode = WebhookOptions::Mode::structured;
  else if (a.mode != "binary") throw UsageError("--mode '" + a.mode + "': expected binary or structured");
  options.verify_tls = !a.insecure;
  nlohmann::json data = nlohmann::json::parse(a.data, nullptr, false);
  if (data.is_discarded()) throw UsageError("--data is not valid JSON");
  auto post = webhook_handler(options);
  Envelope event = Envelope::make(a.type, data, "herald-cli");
  const auto start = std::chrono::steady_clock::now();
  try {
    post(event);
  } catch (const Error& e) {
    std::cout << "not delivered: " << e.what() << (e.retriable() ? " (a group would retry)" : " (a group would dead-letter it)")
              << '\n';
    return 1;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::cout << "delivered " << event.type << " " << event.id << " to " << webhook_endpoint_label(a.url) << " in " << ms
            << " ms (2xx)\n";
  return 0;
}

}  // namespace

void add_webhooks_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("webhooks", "Webhook subscriptions of a config file: list, status, test");
  cmd->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* l = cmd->add_subcommand("list", "The configured webhooks (URLs shown as scheme and host only)");
  l->add_option("--config", *file, "Config file (default: HERALD_CONFIG)");
  l->callback([file] { list(*file); });
  auto* s = cmd->add_subcommand("status", "Each webhook's group on the transport: pending, retrying, dead letters");
  s->add_option("--config", *file, "Config file (default: HERALD_CONFIG)");
  s->callback([file] { status(*file); });

  auto args = std::make_shared<TestArgs>();
  auto* t = cmd->add_subcommand("test", "POST one test CloudEvent to URL and report the answer (exit 1 when not 2xx)");
  t->add_option("url", args->url, "http:// or https:// endpoint")->required();
  t->add_option("--secret", args->secret, "Standard Webhooks secret (whsec_...) to sign with");
  t->add_option("--mode", args->mode, "binary or structured")->capture_default_str();
  t->add_option("--type", args->type, "Event type")->capture_default_str();
  t->add_option("--data", args->data, "Event data (JSON)")->capture_default_str();
  t->add_option("--timeout", args->timeout, "Whole request")->capture_default_str();
  t->add_flag("--insecure", args->insecure, "Do not check an https endpoint's certificate");
  t->callback([args] {
    if (int rc = test(*args); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace herald::cli
