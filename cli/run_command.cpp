// herald run: one process for what a config file defines around a bus: the
// outbox relay (when the file has an outbox), the webhooks, and the admin
// endpoint (with POST /v1/events when the file has an "ingress"). The webhooks follow the file: SIGHUP or a change of the file
// reloads them; a file that does not read keeps the running ones.

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "herald/admin.hpp"
#include "herald/config.hpp"
#include "herald/errors.hpp"
#include "herald/webhook_set.hpp"

namespace herald::cli {

namespace {

std::atomic<bool> run_stop{false};
std::atomic<bool> run_reload{false};

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void report(const WebhookChanges& c) {
  if (c.empty()) {
    std::cout << "webhooks: no change" << std::endl;
    return;
  }
  if (!c.started.empty()) std::cout << "webhooks: started " << joined(c.started) << std::endl;
  if (!c.restarted.empty()) std::cout << "webhooks: restarted " << joined(c.restarted) << std::endl;
  if (!c.stopped.empty()) std::cout << "webhooks: stopped " << joined(c.stopped) << std::endl;
}

// The file's settings other than its webhooks: a change there needs a restart.
nlohmann::json bus_part(const std::filesystem::path& file) {
  nlohmann::json j = nlohmann::json::parse(std::ifstream(file), nullptr, false);
  if (j.is_object()) j.erase("webhooks");
  return j;
}

void reload(const std::filesystem::path& file, WebhookSet& webhooks, const nlohmann::json& started_with) {
  try {
    BusConfig config = BusConfig::from_file(file);
    report(webhooks.apply(webhook_subscriptions(config.webhooks)));
    for (const auto& s : webhooks.status())
      if (s.enabled && !s.running) std::cout << "webhooks: " << s.name << " is not running: " << s.last_error << std::endl;
    if (bus_part(file) != started_with)
      std::cout << "run: settings other than 'webhooks' changed in " << file.string()
                << "; they apply at the next start" << std::endl;
  } catch (const std::exception& e) {
    std::cout << "run: reload refused, the running webhooks are unchanged: " << e.what() << std::endl;
  }
}

std::filesystem::file_time_type modified(const std::filesystem::path& file) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(file, ec);
  return ec ? std::filesystem::file_time_type{} : t;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run",
                                 "Run what a config file defines: outbox relay, webhooks, admin endpoint "
                                 "(SIGHUP or a change of the file reloads the webhooks; Ctrl-C stops)");
  struct Args {
    std::string config, admin = "127.0.0.1:9464";
    bool no_admin = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->config, "Config file (default: HERALD_CONFIG)");
  cmd->add_option("--admin", args->admin, "Admin endpoint host:port (port 0: any free port)")->capture_default_str();
  cmd->add_flag("--no-admin", args->no_admin, "No admin endpoint");
  cmd->callback([args] {
    std::string file = args->config;
    if (file.empty())
      if (const char* env = std::getenv("HERALD_CONFIG"); env && *env) file = env;
    if (file.empty()) throw UsageError("no config file: pass --config FILE or set HERALD_CONFIG");
    BusConfig config = BusConfig::from_file(file);
    auto subscriptions = webhook_subscriptions(config.webhooks);  // refused before anything starts
    const nlohmann::json started_with = bus_part(file);
    if (!config.ingress.is_null() && args->no_admin)
      throw UsageError("the config has an 'ingress', which the admin endpoint serves: drop --no-admin");
    std::optional<admin::IngressOptions> ingress;
    if (!config.ingress.is_null()) ingress = admin::IngressOptions::from_json(config.ingress);
    auto bus = make_bus(config);
    std::unique_ptr<admin::Server> server;
    if (!args->no_admin) {
      admin::Options options{.listen = args->admin};
      options.ingress = std::move(ingress);
      options.on_error = [](const std::string& error) { std::cerr << "admin: " << error << std::endl; };
      server = admin::start(*bus, std::move(options));
    }
    {
      WebhookSet webhooks(*bus);
      report(webhooks.apply(subscriptions));
      std::signal(SIGINT, [](int) { run_stop = true; });
      std::signal(SIGTERM, [](int) { run_stop = true; });
      std::signal(SIGHUP, [](int) { run_reload = true; });
      std::cout << "running " << bus->features().name << (config.outbox.empty() ? "" : " with its outbox relay")
                << (server ? " and the admin endpoint on port " + std::to_string(server->port()) : std::string())
                << (config.ingress.is_null() ? "" : " (POST /v1/events takes events in)")
                << "; reload with SIGHUP or by saving " << file << std::endl;
      auto seen = modified(file);
      while (!run_stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a CLI poll loop: signals and the file's time
        auto now = modified(file);
        if (run_reload.exchange(false) || now != seen) {
          seen = now;
          reload(file, webhooks, started_with);
        }
      }
      std::cout << "run: stopping (in-flight deliveries finish first)" << std::endl;
    }
    if (server) server->stop();
    bus->close();
  });
}

}  // namespace herald::cli
