// herald migrate verify: what a route's old and new targets carried, compared
// (herald/shadow_verify.hpp). Exit 0 clean, 1 not clean, 2 usage or configuration.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/shadow_verify.hpp"

namespace herald::cli {

namespace {

std::atomic<bool> interrupted{false};

struct Targets {
  std::string pattern, old_url, new_url;
  BusConfig base;  // source and decode limits for both
};

// The route whose `match` is `route`: its two publish targets (dual
// publish), else the two it reads from (a bridge fills the new one).
Targets targets_of_route(const std::string& route) {
  BusConfig config = BusConfig::from_env();
  if (config.routes.empty())
    throw UsageError("--route needs a route table (HERALD_CONFIG=<file> or HERALD_ROUTE_*); or give --old, --new "
                     "and --pattern");
  std::string known;
  for (const Route& r : config.routes) {
    if (r.match != route) {
      known += (known.empty() ? "'" : ", '") + r.match + "'";
      continue;
    }
    Targets t{.pattern = r.match, .base = config};
    if (r.publish.size() == 2) {
      t.old_url = r.publish[0];
      t.new_url = r.publish[1];
    } else if (r.read_from().size() == 2) {
      t.old_url = r.read_from()[0];
      t.new_url = r.read_from()[1];
    } else {
      throw UsageError("route '" + route + "' has no two targets to compare (it publishes to " +
                       std::to_string(r.publish.size()) + " and reads from " + std::to_string(r.read_from().size()) +
                       "); give --old and --new");
    }
    return t;
  }
  throw UsageError("no route matches '" + route + "' in the route table (routes: " + known + ")");
}

std::unique_ptr<EventBus> open_target(const Targets& t, const std::string& url) {
  BusConfig c = BusConfig::from_url(url);
  c.source = t.base.source;
  c.decode = t.base.decode;
  return make_bus(c);
}

std::string millis(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", ms);
  return text;
}

std::string signed_millis(double ms) { return (ms >= 0 ? "+" : "") + millis(ms); }

void print_finding(std::ostream& out, const char* what, const ShadowFinding& f) {
  out << "  " << what << ": " << f.count;
  if (f.count > 0) {
    out << "  (";
    for (std::size_t i = 0; i < f.ids.size(); ++i) out << (i ? ", " : "") << printable(f.ids[i], 80);
    if (f.count > f.ids.size()) out << ", ...";
    out << ')';
  }
  out << '\n';
}

void print_side(std::ostream& out, const char* label, const ShadowSide& s) {
  out << "  " << label << "  " << s.name << "\n        received " << s.received << ", events " << s.events;
  if (s.lag.samples > 0) out << ", lag p50 " << millis(s.lag.p50_ms) << ", p99 " << millis(s.lag.p99_ms);
  out << '\n';
}

void print_report(std::ostream& out, const ShadowReport& r) {
  out << "shadow verification of '" << r.pattern << "' over " << r.collected_for.count() / 1000.0 << " s\n";
  print_side(out, "old", r.old_side);
  print_side(out, "new", r.new_side);
  out << "  compared " << r.compared << " event(s) on both sides; " << r.outside_window
      << " outside the window (before it opened, or first seen after it closed)\n";
  print_finding(out, "on the old side only", r.only_old);
  print_finding(out, "on the new side only", r.only_new);
  print_finding(out, "duplicates on the old side", r.old_side.duplicates);
  print_finding(out, "duplicates on the new side", r.new_side.duplicates);
  print_finding(out, "payload digest mismatches", r.mismatched);
  print_finding(out, "reordered within their partition key", r.reordered);
  if (r.old_side.lag.samples > 0 && r.new_side.lag.samples > 0)
    out << "  lag difference (new - old): p50 " << signed_millis(r.lag_difference_p50_ms) << ", p99 "
        << signed_millis(r.lag_difference_p99_ms) << '\n';
  if (r.compared == 0 && r.old_side.events == 0 && r.new_side.events == 0)
    out << "  nothing to compare: no event of '" << r.pattern << "' was published while verify listened\n";
  // A route that reads from two targets but publishes to one has an empty side unless a bridge fills it.
  for (const auto* side : {&r.old_side, &r.new_side})
    if (side->received == 0 && (r.old_side.events + r.new_side.events) > 0)
      out << "  " << side->name << " carried nothing: is the route dual-publishing, or a bridge forwarding to it?\n";
  out << (r.clean() ? "clean" : "NOT clean") << '\n';
}

}  // namespace

void add_migrate_verify(CLI::App& migrate) {
  auto* cmd = migrate.add_subcommand(
      "verify",
      "Compare what a route's old and new targets carry (dual publish or bridge): events on one side only, "
      "duplicates, payload mismatches, order per key, delivery lag. Reads with groups of its own; exit 0 only "
      "when clean, 1 when not, 2 for a usage or configuration error");
  struct Args {
    std::string route, old_url, new_url, pattern, duration, grace = "5s", settle = "0s";
    std::size_t events = 0, ids = 10;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--route", args->route,
                  "The route whose `match` is this pattern in the route table (HERALD_CONFIG): old = its first "
                  "publish target, new = its second (or its two subscribe targets)");
  cmd->add_option("--old", args->old_url, "Old target URL (instead of --route)");
  cmd->add_option("--new", args->new_url, "New target URL (instead of --route)");
  cmd->add_option("--pattern", args->pattern, "Pattern to compare with --old/--new, e.g. order.#");
  cmd->add_option("--for", args->duration, "How long to collect: 30s, 10m, 1h (default 1m, or no limit with --events)");
  cmd->add_option("--events", args->events, "Stop collecting once each side received this many events");
  cmd->add_option("--grace", args->grace, "After collecting, how long stragglers may still arrive")
      ->capture_default_str();
  cmd->add_option("--settle", args->settle,
                  "Leave out events stamped less than this after verify listened (publishers' clocks ahead)")
      ->capture_default_str();
  cmd->add_option("--ids", args->ids, "Event ids listed per finding")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  cmd->callback([args] {
    Targets t;
    if (!args->route.empty()) {
      if (!args->old_url.empty() || !args->new_url.empty() || !args->pattern.empty())
        throw UsageError("give either --route, or --old, --new and --pattern");
      t = targets_of_route(args->route);
    } else {
      if (args->old_url.empty() || args->new_url.empty() || args->pattern.empty())
        throw UsageError("give --route <match> (from the route table), or --old, --new and --pattern");
      t = Targets{.pattern = args->pattern, .old_url = args->old_url, .new_url = args->new_url};
    }
    ShadowVerifyOptions options{
        .pattern = t.pattern,
        .duration = args->duration.empty() ? (args->events > 0 ? std::chrono::milliseconds(0) : std::chrono::minutes(1))
                                           : duration_option(args->duration, "--for"),
        .events = args->events,
        .grace = duration_option(args->grace, "--grace"),
        .settle = duration_option(args->settle, "--settle"),
        .max_listed = args->ids,
        .old_name = redact_url(t.old_url),
        .new_name = redact_url(t.new_url)};
    if (options.duration.count() == 0 && options.events == 0) throw UsageError("--for 0 needs --events");

    auto old_bus = open_target(t, t.old_url);
    auto new_bus = open_target(t, t.new_url);
    ShadowVerifier verifier(*old_bus, *new_bus, options);
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });
    verifier.start();
    std::cerr << "verifying '" << t.pattern << "': old " << options.old_name << ", new " << options.new_name;
    if (options.duration.count() > 0) std::cerr << ", for " << options.duration.count() / 1000.0 << " s";
    if (options.events > 0) std::cerr << ", until " << options.events << " events per side";
    std::cerr << " (Ctrl-C ends early and reports)\n";
    // Polls the signal flag: a signal handler may only set it.
    while (!interrupted && !verifier.wait(std::chrono::milliseconds(100))) {
    }
    ShadowReport report = verifier.finish();
    old_bus->close();
    new_bus->close();
    if (args->json)
      std::cout << report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    else
      print_report(std::cout, report);
    if (!report.clean()) throw CLI::RuntimeError(1);
  });
}

}  // namespace herald::cli
