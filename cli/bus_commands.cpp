// herald publish | tail | dlq

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "herald/codec.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"

namespace herald::cli {

namespace {

std::atomic<bool> interrupted{false};

std::string read_payload(const std::string& arg) {
  if (arg.empty()) return {};
  std::string text = arg;
  if (arg[0] == '@') {
    std::ifstream in(arg.substr(1));
    if (!in) throw UsageError("cannot read payload file '" + arg.substr(1) + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else if (arg == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  }
  try {
    return nlohmann::json::parse(text).dump();
  } catch (const nlohmann::json::parse_error& e) {
    throw UsageError(std::string("payload is not valid JSON: ") + e.what());
  }
}

std::string one_line(const Envelope& e) {
  std::string line = format_time(e.time) + "  " + e.type + "  " + e.id;
  if (!e.partitionkey.empty()) line += "  key=" + e.partitionkey;
  if (!e.correlationid.empty()) line += "  corr=" + e.correlationid;
  std::string data = e.data;
  if (data.size() > 200) data = data.substr(0, 197) + "...";
  if (!data.empty()) line += "  " + data;
  return line;
}

void add_publish(CLI::App& app) {
  auto* cmd = app.add_subcommand("publish", "Publish one event and wait until the transport accepted it");
  struct Args {
    std::string type, payload, url, key, source, subject, actor, correlation;
    int dataversion = 1;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("type", args->type, "Event type, e.g. order.created")->required();
  cmd->add_option("payload", args->payload, "JSON data, @file to read it from a file, - for stdin");
  cmd->add_option("--url", args->url, "Transport URL (default: HERALD_URL)");
  cmd->add_option("--key", args->key, "Partition key (ordering key, normally the aggregate id)");
  cmd->add_option("--source", args->source, "CloudEvents source");
  cmd->add_option("--subject", args->subject, "CloudEvents subject");
  cmd->add_option("--actor", args->actor, "Who caused the event");
  cmd->add_option("--correlation-id", args->correlation, "Correlation id");
  cmd->add_option("--data-version", args->dataversion, "Payload schema version")->check(CLI::PositiveNumber);
  cmd->callback([args] {
    auto bus = open_bus(args->url);
    Envelope e = Envelope::make(args->type, nullptr, args->source);
    e.data = read_payload(args->payload);
    e.partitionkey = args->key;
    e.subject = args->subject;
    e.actor = args->actor;
    e.correlationid = args->correlation;
    e.dataversion = args->dataversion;
    bus->publish(e);
    bus->close();
    std::cout << "published " << e.type << " " << e.id << '\n';
  });
}

void add_tail(CLI::App& app) {
  auto* cmd = app.add_subcommand("tail", "Print events matching a pattern as they arrive (Ctrl-C stops)");
  struct Args {
    std::string pattern, url, group;
    bool json = false;
    bool from_beginning = false;
    long count = 0;
    double seconds = 0;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("pattern", args->pattern, "Pattern: order.*, order.#, #")->required();
  cmd->add_option("--url", args->url, "Transport URL (default: HERALD_URL)");
  cmd->add_option("--group", args->group,
                  "Read as this durable consumer group (competing with its members, keeping its position); "
                  "by default the tail is a subscription of its own that leaves nothing behind");
  cmd->add_flag("--from-beginning", args->from_beginning,
                "Also print what the transport still holds (Kafka), not only what arrives from now on");
  cmd->add_flag("--json", args->json, "Print each event as CloudEvents JSON");
  cmd->add_option("--count", args->count, "Stop after this many events");
  cmd->add_option("--seconds", args->seconds, "Stop after this many seconds");
  cmd->callback([args] {
    auto bus = open_bus(args->url);
    std::atomic<long> seen{0};
    std::mutex out;
    const bool ephemeral = args->group.empty();
    SubscribeSpec spec{.pattern = args->pattern,
                       .group = ephemeral ? "herald-tail" : args->group,
                       .ephemeral = ephemeral,
                       .start = args->from_beginning ? StartFrom::earliest : StartFrom::latest};
    auto sub = bus->subscribe(spec, [&](const Envelope& e) {
      std::lock_guard lock(out);
      std::cout << (args->json ? encode(e) : one_line(e)) << std::endl;
      ++seen;
    });
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });
    std::cerr << "tailing " << args->pattern
              << (ephemeral ? std::string(" (a subscription of its own)") : " as group " + args->group)
              << " (Ctrl-C stops)\n";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(args->seconds * 1000));
    while (!interrupted && !(args->count > 0 && seen >= args->count) &&
           !(args->seconds > 0 && std::chrono::steady_clock::now() >= deadline))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a CLI poll loop, not test synchronisation
    sub.cancel();
    bus->close();
  });
}

void print_letter(const DeadLetter& d, bool json, bool full) {
  if (json) {
    std::cout << d.to_json().dump(full ? 2 : -1) << '\n';
    return;
  }
  std::cout << (d.event.id.empty() ? "<undecodable>" : d.event.id) << "  " << d.routing_key << "  " << d.reason
            << "  attempts=" << d.attempts << "  last_failure=" << format_time(d.last_failure) << "\n    "
            << d.last_error << '\n';
  if (full) {
    if (!d.event.id.empty()) std::cout << "    event: " << encode(d.event) << '\n';
    if (!d.raw_body.empty()) std::cout << "    raw body: " << d.raw_body << '\n';
    if (!d.topic.empty())
      std::cout << "    from " << d.topic << "[" << d.partition << "]@" << d.offset << '\n';
  }
}

void add_dlq(CLI::App& app) {
  auto* dlq = app.add_subcommand("dlq", "Inspect, replay, move or purge a group's dead letters");
  dlq->require_subcommand(1);
  struct Args {
    std::string group, url, id;
    bool json = false;
    std::size_t limit = 100;
  };
  auto add = [&](const char* name, const char* help) {
    auto args = std::make_shared<Args>();
    auto* cmd = dlq->add_subcommand(name, help);
    cmd->add_option("group", args->group, "Consumer group")->required();
    cmd->add_option("--url", args->url, "Transport URL (default: HERALD_URL)");
    return std::make_pair(cmd, args);
  };
  {
    auto [cmd, args] = add("list", "List dead letters, oldest first");
    cmd->add_flag("--json", args->json, "One JSON record per line");
    cmd->add_option("--limit", args->limit, "At most this many")->capture_default_str();
    cmd->callback([args] {
      auto bus = open_bus(args->url);
      auto letters = bus->dead_letters(args->group, args->limit);
      for (const auto& d : letters) print_letter(d, args->json, false);
      if (!args->json) std::cout << letters.size() << " dead letter(s) in " << args->group << '\n';
    });
  }
  {
    auto [cmd, args] = add("show", "Show one dead letter in full");
    cmd->add_option("id", args->id, "Event id")->required();
    cmd->add_flag("--json", args->json, "As JSON");
    cmd->callback([args] {
      auto bus = open_bus(args->url);
      for (const auto& d : bus->dead_letters(args->group, SIZE_MAX))
        if (d.event.id == args->id) {
          print_letter(d, args->json, true);
          return;
        }
      throw NotFoundError("no dead letter with event id " + args->id + " in group " + args->group);
    });
  }
  {
    auto [cmd, args] = add("replay", "Publish dead letters to their group again (all, or --id)");
    cmd->add_option("--id", args->id, "Only this event id");
    cmd->callback([args] {
      auto bus = open_bus(args->url);
      std::optional<std::string> id;
      if (!args->id.empty()) id = args->id;
      auto n = bus->replay_dead_letters(args->group, id);
      bus->close();
      std::cout << "replayed " << n << " dead letter(s) into " << args->group << '\n';
    });
  }
  {
    // Its own options: two transports, neither of them HERALD_URL's by default.
    struct MoveArgs {
      std::string from, to, group, id, pattern = "#";
    };
    auto args = std::make_shared<MoveArgs>();
    auto* cmd = dlq->add_subcommand(
        "move", "Hand a group's dead letters from one transport to the same group on another (after a cut-over)");
    cmd->add_option("--from", args->from, "Transport URL holding the dead letters (the old side)")->required();
    cmd->add_option("--to", args->to, "Transport URL the group now reads from (the new side)")->required();
    cmd->add_option("--group", args->group, "Consumer group")->required();
    cmd->add_option("--id", args->id, "Only this event id");
    cmd->add_option("--pattern", args->pattern, "The group's pattern on the new side (Kafka: which topics to check)")
        ->capture_default_str();
    cmd->callback([args] {
      if (args->from == args->to) throw UsageError("dlq move: --from and --to name the same transport");
      auto from = open_bus(args->from);
      auto to = open_bus(args->to);
      std::optional<std::string> id;
      if (!args->id.empty()) id = args->id;
      const std::size_t n = move_dead_letters(*from, *to, args->group, id, args->pattern);
      to->close();
      from->close();
      std::cout << "moved " << n << " dead letter(s) of " << args->group << " from " << redact_url(args->from)
                << " to " << redact_url(args->to) << '\n';
    });
  }
  {
    auto [cmd, args] = add("purge", "Delete all of a group's dead letters");
    cmd->callback([args] {
      auto bus = open_bus(args->url);
      auto n = bus->purge_dead_letters(args->group);
      std::cout << "purged " << n << " dead letter(s) from " << args->group << '\n';
    });
  }
}

}  // namespace

void add_bus_commands(CLI::App& app) {
  add_publish(app);
  add_tail(app);
  add_dlq(app);
}

}  // namespace herald::cli
