// herald migrate status: for each route of the configuration, each target
// it publishes to or reads from and each group asked about, what is still
// pending, retrying and dead there; which targets are the old side of a
// cut-over (read, no longer published to) and still to drain; and the
// outbox's rows. --wait-drained waits for one target to run dry.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "commands.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/event_store.hpp"

namespace herald::cli {

namespace {

struct Args {
  std::vector<std::string> groups;
  std::vector<std::string> routes;
  bool json = false;
  std::string wait_drained;
  std::string timeout = "60s";
  std::string poll = "500ms";
};

/// One transport of the table, opened once however many routes name it.
class Targets {
 public:
  explicit Targets(const BusConfig& config) : config_(config) {}

  EventBus& bus(const std::string& url) {
    auto& slot = buses_[url];
    if (!slot) {
      BusConfig one = BusConfig::from_url(url);
      one.source = config_.source;
      one.decode = config_.decode;
      slot = make_bus(one);
    }
    return *slot;
  }

 private:
  const BusConfig& config_;
  std::map<std::string, std::unique_ptr<EventBus>> buses_;
};

nlohmann::json figures(const GroupBacklog& b) {
  return {{"known", b.known},       {"exists", b.exists}, {"pending", b.pending},
          {"retrying", b.retrying}, {"dead", b.dead},     {"drained", b.drained()}};
}

// The group's figures on one target; a transport this process cannot see
// into, or one that is away, says so instead of failing the whole report.
nlohmann::json group_entry(Targets& targets, const std::string& url, const std::string& group,
                           const std::string& pattern) {
  nlohmann::json g = {{"group", group}};
  try {
    EventBus& bus = targets.bus(url);
    if (!bus.features().broker) {
      g.update(figures(GroupBacklog{}));
      g["note"] = "in-process transport: only the service itself sees its backlog (its /metrics)";
      return g;
    }
    g.update(figures(bus.backlog(group, pattern)));
  } catch (const std::exception& ex) {
    g.update(figures(GroupBacklog{}));
    g["error"] = ex.what();
  }
  return g;
}

// Each route as the configuration has it; without routes, the one URL
// carries everything.
std::vector<Route> route_table(const BusConfig& config) {
  if (!config.routes.empty()) return config.routes;
  std::string url = config.url;
  if (!config.options.empty()) {
    std::string query;
    for (const auto& [k, v] : config.options) query += (query.empty() ? "?" : "&") + k + "=" + percent_encode(v);
    url += query;
  }
  return {Route{.match = "#", .publish = {url}, .subscribe = {}}};
}

nlohmann::json status_report(const BusConfig& config, const Args& args, Targets& targets) {
  nlohmann::json report = {{"routes", nlohmann::json::array()}, {"hints", nlohmann::json::array()}};
  for (const auto& route : route_table(config)) {
    if (!args.routes.empty() && std::find(args.routes.begin(), args.routes.end(), route.match) == args.routes.end())
      continue;
    const auto& reads = route.read_from();
    std::vector<std::string> urls = route.publish;
    for (const auto& u : reads)
      if (std::find(urls.begin(), urls.end(), u) == urls.end()) urls.push_back(u);
    nlohmann::json r = {{"pattern", route.match}, {"targets", nlohmann::json::array()}};
    for (const auto& url : urls) {
      const bool publish = std::find(route.publish.begin(), route.publish.end(), url) != route.publish.end();
      const bool read = std::find(reads.begin(), reads.end(), url) != reads.end();
      nlohmann::json t = {{"url", redact_url(url)}, {"publish", publish}, {"read", read}};
      // Read from but no longer published to: the old side of a cut-over,
      // retired once drained. Published to and not read: the new side of a
      // dual publish whose consumers have not moved yet.
      t["role"] = publish && read ? "current" : read ? "old side (draining)" : "new side (not read yet)";
      t["groups"] = nlohmann::json::array();
      for (const auto& group : args.groups) {
        nlohmann::json g = group_entry(targets, url, group, route.match);
        if (g.value("dead", 0) > 0 && !publish) {
          const std::string to = redact_url(route.publish.front());
          report["hints"].push_back("group '" + group + "' has " + std::to_string(g.value("dead", 0)) +
                                    " dead letter(s) on the old side " + redact_url(url) +
                                    ": move them with `herald dlq move --from '" + redact_url(url) + "' --to '" + to +
                                    "' --group " + group + "`");
        }
        t["groups"].push_back(std::move(g));
      }
      r["targets"].push_back(std::move(t));
    }
    report["routes"].push_back(std::move(r));
  }
  if (!config.outbox.empty()) {
    // Rows of single-target routes (the store's own state), then each dual
    // target's deliveries (named by redacted URL, as the relays name them).
    nlohmann::json o = {{"store", redact_url(config.outbox)}, {"per_target", nlohmann::json::array()}};
    try {
      auto store = open_event_store(config.outbox);
      const OutboxStatus s = store->backlog();
      o["pending"] = s.pending;
      o["retrying"] = s.retrying;
      o["dead"] = s.dead;
      if (s.dead > 0)
        report["hints"].push_back("the outbox has " + std::to_string(s.dead) +
                                  " dead row(s) that no transport has: see `herald outbox dead`");
      for (const auto& t : store->target_status(false)) {
        o["per_target"].push_back({{"target", t.target},
                                   {"pending", t.status.pending},
                                   {"retrying", t.status.retrying},
                                   {"dead", t.status.dead}});
        if (t.status.dead > 0)
          report["hints"].push_back("the outbox has " + std::to_string(t.status.dead) + " dead delivery(ies) for " +
                                    t.target + ": see `herald outbox dead list --target '" + t.target + "'`");
      }
    } catch (const std::exception& ex) {
      o["error"] = ex.what();
    }
    report["outbox"] = std::move(o);
  }
  return report;
}

std::string figures_line(const nlohmann::json& g) {
  if (g.contains("error")) return "error: " + g["error"].get<std::string>();
  if (g.contains("note")) return g["note"].get<std::string>();
  if (!g.value("known", false)) return "unknown (the transport cannot tell)";
  if (!g.value("exists", false)) return "no such group here";
  std::string line = "pending " + std::to_string(g.value("pending", 0)) + ", retrying " +
                     std::to_string(g.value("retrying", 0)) + ", dead " + std::to_string(g.value("dead", 0));
  if (g.value("drained", false)) line += "  (drained)";
  return line;
}

void print_report(const nlohmann::json& report) {
  for (const auto& r : report["routes"]) {
    std::cout << "route " << r["pattern"].get<std::string>() << '\n';
    for (const auto& t : r["targets"]) {
      std::cout << "  " << t["url"].get<std::string>() << "  [" << t["role"].get<std::string>() << "]\n";
      for (const auto& g : t["groups"])
        std::cout << "    " << g["group"].get<std::string>() << ": " << figures_line(g) << '\n';
    }
  }
  if (report.contains("outbox")) {
    const auto& o = report["outbox"];
    std::cout << "outbox " << o["store"].get<std::string>() << ": ";
    if (o.contains("error")) std::cout << "error: " << o["error"].get<std::string>() << '\n';
    else
      std::cout << "pending " << o.value("pending", 0) << ", retrying " << o.value("retrying", 0) << ", dead "
                << o.value("dead", 0) << '\n';
    if (o.contains("per_target"))
      for (const auto& t : o["per_target"])
        std::cout << "  for " << t["target"].get<std::string>() << ": pending " << t.value("pending", 0)
                  << ", retrying " << t.value("retrying", 0) << ", dead " << t.value("dead", 0) << '\n';
  }
  for (const auto& h : report["hints"]) std::cout << "hint: " << h.get<std::string>() << '\n';
}

// Until `url` has nothing pending nor retrying for the groups, on the
// patterns of the routes naming it, and the outbox (when configured) has no
// pending row; TimeoutError after `timeout`.
// `--wait-drained amqp` (or kafka, amqps): the one target of the table with
// that scheme, so the runbook need not spell a URL with its password.
std::string resolve_target(const BusConfig& config, const std::string& given) {
  if (given.find("://") != std::string::npos) return given;
  std::vector<std::string> found;
  for (const auto& route : route_table(config))
    for (const auto* list : {&route.publish, &route.read_from()})
      for (const auto& url : *list)
        if (url.compare(0, given.size() + 3, given + "://") == 0 &&
            std::find(found.begin(), found.end(), url) == found.end())
          found.push_back(url);
  if (found.size() == 1) return found.front();
  std::string names;
  for (const auto& url : found) names += (names.empty() ? "" : ", ") + redact_url(url);
  throw UsageError("--wait-drained '" + given + "': " +
                   (found.empty() ? "no target of the route table has that scheme"
                                  : "several targets have that scheme (" + names + "): give the URL"));
}

void wait_drained(const BusConfig& config, Args args, Targets& targets) {
  args.wait_drained = resolve_target(config, args.wait_drained);
  std::vector<std::string> patterns;
  for (const auto& route : route_table(config)) {
    const auto& reads = route.read_from();
    const bool named = std::find(route.publish.begin(), route.publish.end(), args.wait_drained) != route.publish.end() ||
                       std::find(reads.begin(), reads.end(), args.wait_drained) != reads.end();
    if (named && (args.routes.empty() || std::find(args.routes.begin(), args.routes.end(), route.match) != args.routes.end()))
      patterns.push_back(route.match);
  }
  if (patterns.empty()) patterns.push_back("#");  // a target the table no longer names: all of it
  const auto timeout = duration_option(args.timeout, "--timeout");
  const auto poll = duration_option(args.poll, "--poll");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  EventBus& bus = targets.bus(args.wait_drained);
  if (!bus.features().broker)
    throw UsageError("--wait-drained: '" + redact_url(args.wait_drained) +
                     "' is an in-process transport; only the service itself can tell when it drained");
  // Rows of single-target routes may be bound for this target; a dual
  // target's deliveries are its own (named by redacted URL).
  std::shared_ptr<EventStore> outbox;
  if (!config.outbox.empty()) outbox = open_event_store(config.outbox);
  const std::string delivery_target = redact_url(args.wait_drained);
  for (;;) {
    std::string left;
    if (outbox)
      if (const auto rows = outbox->count_pending() + outbox->count_pending(delivery_target); rows > 0)
        left = "outbox: " + std::to_string(rows) + " row(s) pending";
    for (const auto& group : args.groups)
      for (const auto& pattern : patterns) {
        const GroupBacklog b = bus.backlog(group, pattern);
        if (!b.known)
          throw UsageError("--wait-drained: the transport of '" + redact_url(args.wait_drained) +
                           "' cannot tell what a group has left");
        if (!b.drained())
          left += (left.empty() ? "" : "; ") + group + " (" + pattern + "): pending " + std::to_string(b.pending) +
                  ", retrying " + std::to_string(b.retrying);
      }
    if (left.empty()) {
      std::cout << "drained: " << redact_url(args.wait_drained) << '\n';
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw TimeoutError("not drained within " + args.timeout + ": " + redact_url(args.wait_drained) + ": " + left);
    std::this_thread::sleep_for(poll);  // the broker is asked again: polling is the point here
  }
}

}  // namespace

void add_migrate_status(CLI::App& migrate) {
  auto* cmd = migrate.add_subcommand(
      "status", "Per route, target and group: what is still pending, retrying and dead (HERALD_CONFIG's route table)");
  auto args = std::make_shared<Args>();
  cmd->add_option("--group", args->groups, "Consumer group to report on (repeat for more)")->required();
  cmd->add_option("--route", args->routes, "Only the route with this pattern, as the table spells it (repeatable)");
  cmd->add_flag("--json", args->json, "One JSON document");
  cmd->add_option("--wait-drained", args->wait_drained,
                  "Wait until this target (its URL, or its scheme when one target has it: amqp, kafka) has nothing "
                  "pending nor retrying for the groups (exit 1 on timeout)");
  cmd->add_option("--timeout", args->timeout, "How long --wait-drained waits")->capture_default_str();
  cmd->add_option("--poll", args->poll, "How often --wait-drained asks the broker")->capture_default_str();
  cmd->callback([args] {
    const BusConfig config = BusConfig::from_env();
    Targets targets(config);
    if (!args->wait_drained.empty()) {
      wait_drained(config, *args, targets);
      return;
    }
    const nlohmann::json report = status_report(config, *args, targets);
    if (args->json) std::cout << report.dump(2) << '\n';
    else print_report(report);
  });
}

}  // namespace herald::cli
