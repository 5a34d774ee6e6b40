// herald outbox status | relay | dead list | dead replay | dead skip
// herald events list | show
// herald replay

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/event_store.hpp"
#include "herald/ext/store.hpp"
#include "herald/outbox.hpp"
#include "herald/relay.hpp"
#include "herald/replay.hpp"
#include "herald/routed_bus.hpp"

namespace herald::cli {

namespace {

std::atomic<bool> stop_requested{false};

void stop_on_signals() {
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
}

std::shared_ptr<EventStore> open_store(const std::string& url) {
  std::string chosen = url.empty() ? store_url_from_env() : url;
  // The store a configured outbox writes to (HERALD_CONFIG, HERALD_OUTBOX_STORE).
  if (chosen.empty()) chosen = BusConfig::from_env().outbox;
  if (chosen.empty()) throw UsageError("no event store: pass --store URL or set HERALD_STORE_URL");
  return open_event_store(chosen);
}

void add_store_option(CLI::App* cmd, std::string& target) {
  cmd->add_option("--store", target, "Event store URL: sqlite:///path.db, postgresql://... (default: HERALD_STORE_URL)");
}

std::string age_text(std::chrono::microseconds age) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(age).count();
  std::ostringstream out;
  if (s >= 86400) out << s / 86400 << "d " << (s % 86400) / 3600 << "h";
  else if (s >= 3600) out << s / 3600 << "h " << (s % 3600) / 60 << "m";
  else if (s >= 60) out << s / 60 << "m " << s % 60 << "s";
  else out << std::fixed << std::setprecision(1) << std::chrono::duration<double>(age).count() << "s";
  return out.str();
}

std::string one_line(const StoredEvent& row) {
  const Envelope& e = row.event;
  std::string state = row.skipped_at    ? "skipped"
                      : row.dead_letter ? "dead"
                      : row.delivered_at ? "delivered"
                      : row.delivery_attempts ? "retrying"
                                              : "pending";
  std::string line = std::to_string(row.position) + "  " + format_time(e.time) + "  " + e.type + "  " + e.id + "  " + state;
  if (!e.aggregateid.empty()) line += "  " + e.aggregatetype + ":" + e.aggregateid;
  if (row.delivery_attempts > 0) line += "  attempts=" + std::to_string(row.delivery_attempts);
  std::string data = e.data;
  if (data.size() > 160) data = data.substr(0, 157) + "...";
  if (!data.empty()) line += "  " + data;
  return line;
}

// "order:42" → ("order", "42"); the id may hold further colons.
std::pair<std::string, std::string> split_aggregate(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw UsageError("--aggregate '" + text + "': expected TYPE:ID, e.g. order:42");
  return {text.substr(0, colon), text.substr(colon + 1)};
}

// A progress bar on stderr when it is a terminal; nothing otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  void update(const ReplayProgress& p) {
    if (!enabled_) return;
    double span = static_cast<double>(std::max<std::int64_t>(1, p.last_position - p.first_position + 1));
    double done = std::clamp(static_cast<double>(p.position - p.first_position + 1) / span, 0.0, 1.0);
    int filled = static_cast<int>(done * 30);
    std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
              << std::string(static_cast<std::size_t>(30 - filled), ' ') << "] " << std::setw(3)
              << static_cast<int>(done * 100) << "%  position " << p.position << "/" << p.last_position << "  "
              << p.published << " published" << std::flush;
    drawn_ = true;
  }
  ~ProgressBar() {
    if (drawn_) std::cerr << '\n';
  }

 private:
  bool enabled_;
  bool drawn_ = false;
};

void add_target_option(CLI::App* cmd, std::string& target, const char* what) {
  cmd->add_option("--target", target,
                  std::string(what) + " of one dual-publish target, named as `herald outbox status` shows it "
                  "(default: the events without targets)");
}

std::optional<std::chrono::microseconds> pending_age(const OutboxStatus& st) {
  if (!st.oldest_pending) return std::nullopt;
  return std::max(std::chrono::microseconds::zero(), now_micros() - *st.oldest_pending);
}

nlohmann::json age_json(const std::optional<std::chrono::microseconds>& age) {
  return age ? nlohmann::json(std::chrono::duration<double>(*age).count()) : nlohmann::json(nullptr);
}

void add_outbox(CLI::App& app) {
  auto* outbox = app.add_subcommand("outbox", "Inspect the outbox and run its relay");
  outbox->require_subcommand(1);

  {
    auto* cmd = outbox->add_subcommand("status", "Pending, delivered and dead events, and the oldest pending age");
    struct Args {
      std::string store;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    cmd->add_flag("--json", args->json, "As JSON");
    cmd->callback([args] {
      auto store = open_store(args->store);
      OutboxStatus st = store->status();
      auto age = pending_age(st);
      // Events of dual routes: each target's own deliveries.
      auto targets = store->target_status();
      if (args->json) {
        nlohmann::json j = {{"store", store->describe()},   {"pending", st.pending}, {"retrying", st.retrying},
                            {"delivered", st.delivered},    {"dead", st.dead},       {"last_position", st.last_position},
                            {"oldest_pending_age_seconds", age_json(age)}};
        if (!targets.empty()) {
          auto& list = j["targets"] = nlohmann::json::array();
          for (const auto& t : targets)
            list.push_back({{"target", t.target},
                            {"pending", t.status.pending},
                            {"retrying", t.status.retrying},
                            {"delivered", t.status.delivered},
                            {"dead", t.status.dead},
                            {"oldest_pending_age_seconds", age_json(pending_age(t.status))}});
        }
        std::cout << j.dump() << '\n';
        return;
      }
      std::cout << "store:      " << store->describe() << '\n'
                << "pending:    " << st.pending << " (" << st.retrying << " retrying after a failure)\n"
                << "delivered:  " << st.delivered << '\n'
                << "dead:       " << st.dead << '\n'
                << "oldest pending: " << (age ? age_text(*age) + " old" : std::string("none")) << '\n'
                << "last position:  " << st.last_position << '\n';
      if (targets.empty()) return;
      std::cout << "per target (dual publish; the counts above are the events without targets):\n";
      for (const auto& t : targets) {
        auto target_age = pending_age(t.status);
        std::cout << "  " << t.target << "\n    pending: " << t.status.pending << " (" << t.status.retrying
                  << " retrying)  delivered: " << t.status.delivered << "  dead: " << t.status.dead
                  << "  oldest pending: " << (target_age ? age_text(*target_age) + " old" : std::string("none")) << '\n';
      }
    });
  }

  {
    auto* cmd = outbox->add_subcommand("relay", "Deliver pending events to the transport until stopped (Ctrl-C)");
    struct Args {
      std::string store, url, target;
      long interval_ms = 0, max_attempts = 0, batch = 0;
      bool once = false, quiet = false;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    cmd->add_option("--url", args->url, "Transport URL (default: HERALD_URL); with --target, that target's URL");
    add_target_option(cmd, args->target, "Deliver the events");
    cmd->add_option("--interval-ms", args->interval_ms, "Poll interval (default: HERALD_OUTBOX_INTERVAL_MS or 200)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--max-attempts", args->max_attempts,
                    "Publish attempts before a row is dead (default: HERALD_OUTBOX_MAX_ATTEMPTS or 10)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--batch", args->batch, "Rows per batch (default: HERALD_OUTBOX_BATCH_SIZE or 1000)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--once", args->once, "Deliver what is due now, then exit");
    cmd->add_flag("--quiet", args->quiet, "No progress lines");
    cmd->callback([args] {
      RelayOptions options = RelayOptions::from_env();
      if (args->interval_ms > 0) options.interval = std::chrono::milliseconds(args->interval_ms);
      if (args->max_attempts > 0) options.retry.max_attempts = static_cast<int>(args->max_attempts);
      if (args->batch > 0) options.batch_size = static_cast<std::size_t>(args->batch);
      options.target = args->target;
      options.on_error = [](const std::string& error) { std::cerr << "relay: store error: " << error << '\n'; };
      options.on_transport_down = [](const std::string& error) {
        std::cerr << "relay: transport down, no event charged: " << error << '\n';
      };
      auto store = open_store(args->store);
      auto bus = open_bus(args->url);
      // What to relay where: the one target asked for; or the event rows and,
      // with routes (HERALD_CONFIG), each dual route's targets on their own,
      // as the in-process relay does.
      std::vector<std::pair<std::string, EventBus*>> lanes;
      if (!args->target.empty()) {
        lanes.emplace_back(args->target, bus.get());
      } else {
        lanes.emplace_back(std::string(), bus.get());
        if (auto* routed = dynamic_cast<RoutedBus*>(bus.get())) {
          OutboxBusOptions wiring;
          deliver_per_target(wiring, *routed, store.get());
          for (const auto& t : wiring.targets) lanes.emplace_back(t.name, t.bus);
        }
      }
      auto lane_options = [&](const std::string& target) {
        RelayOptions o = options;
        o.target = target;
        return o;
      };
      if (args->once) {
        RelayStats s;
        for (const auto& [target, lane_bus] : lanes) s += relay_pass(*store, *lane_bus, lane_options(target));
        if (s.transport_failures > 0)
          std::cerr << "relay: transport down, no event charged: " << s.transport_error << '\n';
        bus->flush(std::chrono::seconds(30));
        bus->close();
        std::cout << "delivered " << s.delivered << ", failed " << s.failed << ", dead " << s.dead_lettered << '\n';
        return;
      }
      stop_on_signals();
      std::cerr << "relaying " << store->describe() << " -> " << bus->features().name << " (Ctrl-C stops)\n";
      RelayStats last;
      {
        std::vector<std::unique_ptr<Relay>> relays;
        for (const auto& [target, lane_bus] : lanes)
          relays.push_back(std::make_unique<Relay>(*store, *lane_bus, lane_options(target)));
        auto totals = [&relays] {
          RelayStats s;
          for (const auto& r : relays) s += r->stats();
          return s;
        };
        auto next_report = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!stop_requested) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a CLI poll loop, not test synchronisation
          if (!args->quiet && std::chrono::steady_clock::now() >= next_report) {
            RelayStats s = totals();
            if (s.delivered != last.delivered || s.failed != last.failed)
              std::cerr << "relay: delivered " << s.delivered << ", failed " << s.failed << ", dead "
                        << s.dead_lettered << '\n';
            last = s;
            next_report += std::chrono::seconds(10);
          }
        }
        for (auto& r : relays) r->stop();
        last = totals();
      }
      bus->close();
      std::cout << "relay stopped: delivered " << last.delivered << ", failed " << last.failed << ", dead "
                << last.dead_lettered << '\n';
    });
  }

  auto* dead = outbox->add_subcommand("dead", "Events the relay gave up on");
  dead->require_subcommand(1);
  {
    auto* cmd = dead->add_subcommand("list", "List dead events, oldest first");
    struct Args {
      std::string store, target;
      std::size_t limit = 100;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    add_target_option(cmd, args->target, "The dead deliveries");
    cmd->add_option("--limit", args->limit, "At most this many")->capture_default_str();
    cmd->add_flag("--json", args->json, "One JSON record per line");
    cmd->callback([args] {
      auto store = open_store(args->store);
      auto rows = store->dead_letters(args->limit, args->target);
      for (const auto& row : rows) {
        if (args->json) {
          std::cout << row.to_json().dump() << '\n';
        } else {
          std::cout << one_line(row) << "\n    last error: " << row.last_error << '\n';
        }
      }
      if (!args->json) std::cout << rows.size() << " dead event(s)\n";
    });
  }
  {
    // Named like the bus's `herald dead replay`: the same action on the
    // outbox's dead rows. `retry`, its first name, stays an alias.
    auto* cmd = dead->add_subcommand(
        "replay", "Make dead events pending again (all, or the one with ID); each goes out before the events it held back");
    cmd->alias("retry");
    struct Args {
      std::string store, id, target;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    add_target_option(cmd, args->target, "The dead deliveries");
    cmd->add_option("id", args->id, "Event id (default: every dead event)");
    cmd->callback([args] {
      auto store = open_store(args->store);
      std::optional<std::string> id;
      if (!args->id.empty()) id = args->id;
      auto n = store->replay_dead_letters(id, args->target);
      std::cout << "made " << n << " dead event(s) pending again\n";
    });
  }
  {
    auto* cmd = dead->add_subcommand(
        "skip", "Give up on the dead event ID for good: the later events of its aggregate, held back by it, go out");
    struct Args {
      std::string store, id, target;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    add_target_option(cmd, args->target, "The dead delivery");
    cmd->add_option("id", args->id, "Event id")->required();
    cmd->callback([args] {
      auto store = open_store(args->store);
      store->skip_dead_letter(args->id, args->target);
      std::cout << "skipped dead event " << args->id << ": it will not be delivered\n";
    });
  }
}

void add_events(CLI::App& app) {
  auto* events = app.add_subcommand("events", "Query stored events");
  events->require_subcommand(1);
  {
    auto* cmd = events->add_subcommand("list", "An aggregate's timeline (or every event), a page at a time");
    struct Args {
      std::string store, aggregate, cursor;
      std::size_t limit = 50;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    cmd->add_option("--aggregate", args->aggregate, "TYPE:ID, e.g. order:42 (default: every event)");
    cmd->add_option("--cursor", args->cursor, "Where the previous page ended (printed after it)");
    cmd->add_option("--limit", args->limit, "Events per page")->capture_default_str()->check(CLI::Range(1, 10000));
    cmd->add_flag("--json", args->json, "One JSON page: {\"events\": [...], \"nextCursor\": ...}");
    cmd->callback([args] {
      auto store = open_store(args->store);
      EventPage page;
      if (!args->aggregate.empty()) {
        auto [type, id] = split_aggregate(args->aggregate);
        page = store->timeline(type, id, args->cursor, args->limit);
      } else {
        std::int64_t after = args->cursor.empty() ? 0 : parse_cursor(args->cursor);
        ScanResult scan = store->scan({}, after, args->limit + 1);
        for (auto& row : scan.events) {
          if (page.events.size() == args->limit) {
            page.next_cursor = make_cursor(page.events.back().position);
            break;
          }
          page.events.push_back(std::move(row));
        }
      }
      if (args->json) {
        nlohmann::json items = nlohmann::json::array();
        for (const auto& row : page.events) items.push_back(row.to_json());
        std::cout << nlohmann::json{{"events", items},
                                    {"nextCursor", page.next_cursor.empty() ? nlohmann::json(nullptr)
                                                                            : nlohmann::json(page.next_cursor)}}
                         .dump()
                  << '\n';
        return;
      }
      for (const auto& row : page.events) std::cout << one_line(row) << '\n';
      if (page.next_cursor.empty())
        std::cout << "(end)\n";
      else
        std::cout << "more: --cursor " << page.next_cursor << '\n';
    });
  }
  {
    auto* cmd = events->add_subcommand("show", "One event with its delivery state");
    struct Args {
      std::string store, id;
      bool json = false;
    };
    auto args = std::make_shared<Args>();
    add_store_option(cmd, args->store);
    cmd->add_option("id", args->id, "Event id")->required();
    cmd->add_flag("--json", args->json, "Compact JSON");
    cmd->callback([args] {
      auto store = open_store(args->store);
      StoredEvent row = store->get(args->id);
      std::cout << row.to_json().dump(args->json ? -1 : 2) << '\n';
    });
  }
}

void add_replay(CLI::App& app) {
  auto* cmd = app.add_subcommand("replay", "Publish stored events again (same ids) to the transport");
  struct Args {
    std::string store, url, type, aggregate;
    std::int64_t from = 1, to = 0;
    std::size_t batch = 500;
  };
  auto args = std::make_shared<Args>();
  add_store_option(cmd, args->store);
  cmd->add_option("--url", args->url, "Transport URL (default: HERALD_URL)");
  cmd->add_option("--from", args->from, "First position")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--to", args->to, "Last position (default: the last stored now)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--type", args->type, "Type pattern: order.*, #.failed.#");
  cmd->add_option("--aggregate", args->aggregate, "Only TYPE:ID, e.g. order:42");
  cmd->add_option("--batch", args->batch, "Events per publish")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([args] {
    auto store = open_store(args->store);
    ReplayOptions options;
    options.filter.from_position = args->from;
    if (args->to > 0) options.filter.to_position = args->to;
    options.filter.type_pattern = args->type;
    if (!args->aggregate.empty())
      std::tie(options.filter.aggregate_type, options.filter.aggregate_id) = split_aggregate(args->aggregate);
    options.batch_size = args->batch;
    options.filter.validate();
    auto bus = open_bus(args->url);
    std::uint64_t n = 0;
    {
      ProgressBar bar(true);
      options.on_progress = [&bar](const ReplayProgress& p) { bar.update(p); };
      n = replay(*store, *bus, options);
    }
    bus->flush(std::chrono::seconds(30));
    bus->close();
    std::cout << "replayed " << n << " event(s) from " << store->describe() << '\n';
  });
}

}  // namespace

void add_store_commands(CLI::App& app) {
  add_outbox(app);
  add_events(app);
  add_replay(app);
}

}  // namespace herald::cli
