// The orders demo: a small service on herald, start to finish.
//
//   orders_demo [--url URL] [--store URL | --no-outbox] [--namespace NAME] [--admin HOST:PORT [--serve]]
//               [--webhook URL]
//
// --webhook sends each order.after.create to URL as a signed CloudEvent (a
// Slack-style notification; HERALD_DEMO_WEBHOOK_SECRET=whsec_... signs it).
//
// --url picks the transport (default HERALD_URL, else memory://). When built
// with the SQLite store, events go through the transactional outbox into
// --store (default HERALD_STORE_URL, else a fresh SQLite file in the temp
// directory) and an in-process relay delivers them.
//
// Brokers keep what earlier runs and other programs left. Each run therefore
// works in a namespace of its own (--namespace, default a fresh one):
// RabbitMQ exchange and queue prefix, Kafka topic and group prefix, unless
// the URL names them. Its events carry a correlation id of the run, and the
// demo counts only those, so foreign `order.*` events cannot change its story.
//
// --serve keeps the admin endpoint up after the story, until standard input
// closes (Ctrl-D): what docker/compose.yaml's Prometheus scrapes.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>

#include <unistd.h>

#include "events.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#ifdef HERALD_DEMO_WITH_SQLITE
#include "herald/outbox.hpp"
#endif
#include "herald/admin.hpp"
#ifdef HERALD_DEMO_WITH_WEBHOOKS
#include "herald/webhook.hpp"
#endif
#include "log.hpp"
#include "order_service.hpp"
#include "subscribers.hpp"

using namespace orders;

namespace {

struct DemoArgs {
  herald::BusConfig config = herald::BusConfig::from_env();
  std::string store;  // "" without the outbox
  std::string run;    // this run's id
  std::string space;  // namespace of the broker names
  std::string admin;  // host:port of the admin endpoint; "" without one
  std::string webhook;  // URL order.after.create goes to; "" without one
  bool serve = false;  // keep the admin endpoint up after the story
};

std::string fresh_run_id() {
  std::random_device rd;
  // Not all hex digits: a run id never looks like the head of a UUID.
  char buf[16];
  std::snprintf(buf, sizeof buf, "r%06x", static_cast<unsigned>(rd() & 0xffffff));
  return buf;
}

/// Puts the broker names the demo creates under `space`, leaving alone the
/// ones the URL or HERALD_OPT_* set. Returns a line saying where they are.
std::string apply_namespace(herald::BusConfig& config, const std::string& space) {
  auto set_default = [&](const std::string& key, const std::string& value) {
    return config.options.try_emplace(key, value).first->second;
  };
  std::string scheme = config.url.substr(0, config.url.find(':'));
  if (scheme == "amqp" || scheme == "amqps") {
    std::string exchange = set_default("exchange", "herald.demo." + space);
    if (!config.options.count("queue_prefix")) {
      config.options["queue_prefix"] = "herald.demo." + space + ".";
      // The broker deletes the demo's queues some minutes after the run
      // (queues the URL names may exist already, with their own settings).
      set_default("queue_expires", "10m");
      set_default("dead_letter_expires", "10m");
    }
    std::string queues = config.options["queue_prefix"];
    return "exchange " + exchange + ", queues " + queues + "<group>";
  }
  if (scheme == "kafka") {
    std::string topics = set_default("topic_prefix", "herald-demo." + space + ".");
    std::string groups = set_default("group_prefix", "herald-demo." + space + ".");
    return "topics " + topics + "<family>, groups " + groups + "<group>";
  }
  return "";
}

DemoArgs args_from(int argc, char** argv) {
  DemoArgs args;
  if (const char* s = std::getenv("HERALD_STORE_URL"); s && *s) args.store = s;
  bool outbox = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
      auto from_url = herald::BusConfig::from_url(argv[++i]);
      args.config.url = from_url.url;
      args.config.options = from_url.options;
    } else if (std::strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
      args.store = argv[++i];
    } else if (std::strcmp(argv[i], "--no-outbox") == 0) {
      outbox = false;
    } else if (std::strcmp(argv[i], "--namespace") == 0 && i + 1 < argc) {
      args.space = argv[++i];
    } else if (std::strcmp(argv[i], "--admin") == 0 && i + 1 < argc) {
      args.admin = argv[++i];
    } else if (std::strcmp(argv[i], "--webhook") == 0 && i + 1 < argc) {
      args.webhook = argv[++i];
    } else if (std::strcmp(argv[i], "--serve") == 0) {
      args.serve = true;
    } else {
      throw herald::ConfigError(std::string("orders_demo: unknown argument '") + argv[i] +
                                "' (usage: orders_demo [--url URL] [--store URL | --no-outbox] [--namespace NAME] [--admin HOST:PORT [--serve]] "
                                "[--webhook URL])");
    }
  }
  args.run = fresh_run_id();
  if (args.space.empty()) args.space = args.run;
  args.config.source = "orders-service";
#ifdef HERALD_DEMO_WITH_SQLITE
  if (outbox && args.store.empty()) {
    // One file per run, so runs side by side (tests) do not share a store.
    auto file = std::filesystem::temp_directory_path() / ("herald-orders-demo-" + std::to_string(::getpid()) + ".db");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file.string() + suffix);
    args.store = "sqlite://" + file.string();
  }
#else
  if (!args.store.empty()) throw herald::ConfigError("orders_demo: built without the SQLite store; --store is not available");
#endif
  if (!outbox) args.store.clear();
  return args;
}

int run(int argc, char** argv) {
  DemoArgs args = args_from(argc, argv);
  std::string names = apply_namespace(args.config, args.space);
  const herald::BusConfig& config = args.config;
  // Every event of this run carries a correlation id starting with it.
  const std::string correlation_prefix = "demo-" + args.run + "-";
  say("demo", "run " + args.run + (names.empty() ? "" : ", namespace " + args.space + ": " + names));
  std::unique_ptr<herald::EventBus> bus;
  herald::EventBus* transport = nullptr;  // where a broker redelivery would come from
#ifdef HERALD_DEMO_WITH_SQLITE
  herald::OutboxBus* outbox = nullptr;
  if (!args.store.empty()) {
    auto o = herald::make_outbox_bus(config, args.store);
    outbox = o.get();
    transport = &o->transport();
    bus = std::move(o);
    say("demo", "outbox in " + herald::redact_url(args.store) + ", relayed to " + transport->features().name + " (" +
                    herald::redact_url(config.url) + ")");
  }
#endif
  if (!bus) {
    bus = herald::make_bus(config);
    transport = bus.get();
    say("demo", "transport " + bus->features().name + " (" + herald::redact_url(config.url) + "), no outbox");
  }

  herald::Upcasters upcasters;
  upcasters.add("order.created", 1, [](nlohmann::json p) {
    p["currency"] = "EUR";  // v1 orders were always in euros
    return p;
  });
  auto idempotency = std::make_shared<herald::MemoryIdempotencyStore>();
  auto subscribers = subscribe_all(*bus, upcasters, idempotency, correlation_prefix);
  // The admin endpoint beside the bus (and its outbox): /metrics, /readyz, dead letters.
  auto admin = args.admin.empty() ? nullptr : herald::admin::start(*bus, {.listen = args.admin});
  if (admin) say("demo", "admin endpoint on http://" + args.admin.substr(0, args.admin.rfind(':')) + ":" +
                             std::to_string(admin->port()) + "/metrics");
  // A webhook is one more subscriber: order.after.create POSTed, signed, in
  // order per order id; core retries it and dead-letters what the endpoint refuses.
  std::atomic<int> notified{0};
  herald::Subscription webhook;
  if (!args.webhook.empty()) {
#ifdef HERALD_DEMO_WITH_WEBHOOKS
    const char* secret = std::getenv("HERALD_DEMO_WEBHOOK_SECRET");
    auto post = herald::webhook_handler({.name = "slack-orders", .url = args.webhook, .secret = secret ? secret : "",
                                         .mode = herald::WebhookOptions::Mode::structured});
    webhook = bus->subscribe({.pattern = "order.after.create", .group = "slack-orders", .concurrency = 4},
                             [post, &notified, &subscribers](const herald::Envelope& e) {
                               post(e);
                               if (subscribers->ours(e)) ++notified;
                             });
    say("demo", "order.after.create goes to webhook 'slack-orders' (" + std::string(secret ? "signed" : "unsigned") + ")");
#else
    throw herald::ConfigError("orders_demo: built without herald::webhooks; --webhook is not available");
#endif
  }
  OrderService service(*bus, [&](herald::Envelope e) { bus->publish(std::move(e)); }, correlation_prefix);

  say("orders", "creating order 42 for alice");
  auto first = service.create("alice", {"book", "lamp"}, 120.0, "user:alice");
  say("orders", "creating order 43 for bob");
  service.create("bob", {"chair"}, 80.0, "user:bob");

  say("orders", "creating an order with no items (fails)");
  try {
    service.create("carol", {}, 10.0, "user:carol");
  } catch (const std::invalid_argument& e) {
    say("orders", std::string("refused: ") + e.what());
  }

  say("orders", "a buggy client creates order 45 with a negative total (poison)");
  try {
    service.create("mallory", {"refund-hack"}, -5.0, "user:mallory");
  } catch (const herald::SchemaError& e) {
    // With the catalog configured (HERALD_SCHEMAS=schemas/events) the poison never leaves the service.
    say("orders", std::string("refused by the event catalog: ") + e.what());
  }

  say("legacy", "an old v1 order.created arrives from the monolith");
  herald::Envelope old = herald::Envelope::make("order.created",
      {{"order_id", "7"}, {"customer", "dave"}, {"total", 30.0}, {"items", {"mug"}}}, "monolith");
  old.dataversion = 1;
  old.partitionkey = "7";
  old.correlationid = correlation_prefix + "order-7";
  bus->publish(old);

  if (!bus->flush(std::chrono::seconds(30))) throw herald::TimeoutError("events were not handled within 30 s");

  herald::Envelope redelivered;
  {
    std::lock_guard lock(subscribers->mutex);
    for (const auto& e : subscribers->paid)
      if (e.partitionkey == "42") redelivered = e;
  }
  say("broker", "order 42's order.paid is delivered a second time (as after a consumer crash)");
  transport->publish(redelivered);
  if (!bus->flush(std::chrono::seconds(30))) throw herald::TimeoutError("events were not handled within 30 s");

  // Dead letters of other producers' events (say, an order.created without
  // an order_id) are the group's business too, but not this run's story.
  std::size_t own_dead = 0, foreign_dead = 0;
  std::cout << "\n--- dead letters (group payments) ---\n";
  for (const auto& d : bus->dead_letters("payments", 10'000)) {
    if (!subscribers->ours(d.event)) {
      ++foreign_dead;
      continue;
    }
    ++own_dead;
    std::cout << "  " << d.routing_key << " " << short_id(d.event.id) << "  reason=" << d.reason
              << " attempts=" << d.attempts << "\n    last error: " << d.last_error << '\n';
  }
  if (foreign_dead) std::cout << "  (and " << foreign_dead << " of events this run did not publish)\n";

  std::cout << "\n--- timeline of order 42 (as the timeline service saw it) ---\n";
  {
    std::lock_guard lock(subscribers->mutex);
    for (const auto& type : subscribers->timeline["42"]) std::cout << "  " << type << '\n';
  }
#ifdef HERALD_DEMO_WITH_SQLITE
  if (outbox) {
    auto status = outbox->store().status();
    std::cout << "\n--- outbox (" << outbox->store().describe() << ") ---\n"
              << "  stored " << status.last_position << " events: " << status.delivered << " delivered by the relay, "
              << status.pending << " pending, " << status.dead << " dead\n"
              << "\n--- timeline of order 42 from the event store ---\n";
    for (const auto& stored : outbox->store().timeline("order", "42", "", 50).events)
      std::cout << "  #" << stored.position << "  " << herald::format_time(stored.event.time) << "  "
                << stored.event.type << '\n';
  }
#endif

  // Handler runs, retries and dead letters are counted where they happen:
  // on the transport (behind the outbox, when there is one).
  auto m = bus->metrics().snapshot();
  auto all = transport->metrics().snapshot().total();
  std::cout << "\n--- summary ---\n"
            << "  events published:        " << m.total_published() << '\n'
            << "  handler runs ok:         " << all.delivered << '\n'
            << "  failed attempts:         " << all.failed_attempts << " (retried " << all.retried << ")\n"
            << "  dead-lettered:           " << all.dead_lettered << '\n'
            << "  emails sent:             " << subscribers->emails_sent << " (after " << subscribers->smtp_failures
            << " SMTP failures)\n"
            << "  loyalty points granted:  " << subscribers->loyalty_points << '\n'
            << "  duplicates suppressed:   " << subscribers->duplicates_suppressed << '\n';
  {
    std::lock_guard lock(subscribers->mutex);
    std::cout << "  analytics by type:      ";
    for (const auto& [type, n] : subscribers->analytics) std::cout << ' ' << type << '=' << n;
    std::cout << '\n';
  }
  int created = 0;  // what the webhook should have sent: every order.after.create of this run
  {
    std::lock_guard lock(subscribers->mutex);
    created = subscribers->analytics["order.after.create"];
  }
  if (!args.webhook.empty())
    std::cout << "  webhook notifications:   " << notified << " of " << created << " order.after.create\n";
  bool ok = subscribers->emails_sent == 4 && subscribers->duplicates_suppressed == 1 && own_dead == 1 &&
            (args.webhook.empty() || (created >= 2 && notified == created));
  if (admin && args.serve) {
    say("demo", "serving the admin endpoint until standard input closes (Ctrl-D)");
    for (std::string line; std::getline(std::cin, line);) {
    }
  }
  webhook.cancel();  // its handler reads `subscribers`
  subscribers.reset();
  bus->close();
  std::cout << (ok ? "\ndemo finished: every event handled, retried, dead-lettered or suppressed as expected\n"
                   : "\ndemo finished with unexpected results\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const herald::Error& e) {
    std::cerr << "orders_demo: " << e.what() << '\n';
    return 1;
  }
}
