#include "herald/testing/brokers.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "herald/testing/isolation.hpp"

#ifdef HERALD_TESTING_WITH_POSTGRES
#include <pqxx/pqxx>
#endif
#ifdef HERALD_TESTING_WITH_KAFKA
#include <librdkafka/rdkafka.h>
#endif

namespace herald::testing {

namespace {

std::optional<std::string> getenv_nonempty(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v && *v) return std::string(v);
  return std::nullopt;
}

// The command's standard output; its standard error goes to the test's, so
// a failing start-up explains itself.
std::string run_command(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) throw std::runtime_error("herald::testing: could not run '" + command + "'");
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe.get())) out.append(buf, n);
  int status = ::pclose(pipe.release());
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("herald::testing: '" + command + "' failed");
  return out;
}

std::optional<std::string> default_brokers_command() {
#ifdef HERALD_TESTING_SOURCE_DIR
  std::string script = std::string(HERALD_TESTING_SOURCE_DIR) + "/scripts/containers";
  if (::access(script.c_str(), X_OK) == 0) return script;
#endif
  return std::nullopt;
}

#ifdef HERALD_TESTING_WITH_POSTGRES
// Keys herald's PostgreSQL store reads from the URL and libpq does not know.
std::string libpq_url(const std::string& url) {
  auto q = url.find('?');
  if (q == std::string::npos) return url;
  std::string kept;
  std::stringstream query(url.substr(q + 1));
  std::string part;
  while (std::getline(query, part, '&')) {
    std::string key = part.substr(0, part.find('='));
    if (key == "schema" || key == "pool" || part.empty()) continue;
    kept += (kept.empty() ? "" : "&") + part;
  }
  return url.substr(0, q) + (kept.empty() ? "" : "?" + kept);
}
#endif

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '-')
      out += '-';
    if (out.size() >= 24) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "test" : out;
}

#ifdef HERALD_TESTING_WITH_KAFKA
// Deletes every topic whose name starts with `prefix`; best effort, bounded
// by librdkafka's timeouts (a destructor calls it).
void delete_kafka_topics(const std::string& bootstrap, const std::string& prefix) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return;
  }
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return;
  }
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::vector<rd_kafka_DeleteTopic_t*> doomed;
    for (int i = 0; i < md->topic_cnt; ++i)
      if (std::string(md->topics[i].topic).rfind(prefix, 0) == 0)
        doomed.push_back(rd_kafka_DeleteTopic_new(md->topics[i].topic));
    rd_kafka_metadata_destroy(md);
    if (!doomed.empty()) {
      rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
      rd_kafka_DeleteTopics(rk, doomed.data(), doomed.size(), nullptr, queue);
      if (rd_kafka_event_t* done = rd_kafka_queue_poll(queue, 10000)) rd_kafka_event_destroy(done);
      rd_kafka_queue_destroy(queue);
      rd_kafka_DeleteTopic_destroy_array(doomed.data(), doomed.size());
    }
  }
  rd_kafka_destroy(rk);
}
#endif

}  // namespace

std::map<std::string, std::string> parse_env_lines(const std::string& text) {
  std::map<std::string, std::string> vars;
  std::stringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("export ", 0) == 0) line = line.substr(7);
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string name = line.substr(0, eq);
    bool identifier = true;
    for (char c : name) identifier = identifier && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!identifier) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    vars[name] = value;
  }
  return vars;
}

Brokers find_brokers(const std::function<std::optional<std::string>(const std::string&)>& env,
                     const std::function<std::string(const std::string&)>& run) {
  static const char* const names[] = {"HERALD_TEST_AMQP_URL", "HERALD_TEST_KAFKA_BROKERS", "HERALD_TEST_PG_URL"};
  std::map<std::string, std::string> found;
  bool missing = false;
  for (const char* name : names) {
    if (auto v = env(name))
      found[name] = *v;
    else
      missing = true;
  }
  if (missing) {
    auto command = env("HERALD_TEST_BROKERS_COMMAND");
    if (!command) command = default_brokers_command();
    if (!command)
      throw std::runtime_error(
          "herald::testing: no test brokers: set HERALD_TEST_AMQP_URL, HERALD_TEST_KAFKA_BROKERS and "
          "HERALD_TEST_PG_URL, or HERALD_TEST_BROKERS_COMMAND to a command with `up` and `env` "
          "(herald's scripts/containers)");
    run(*command + " up 1>&2");
    for (auto& [name, value] : parse_env_lines(run(*command + " env")))
      if (name.rfind("HERALD_TEST_", 0) == 0) found.emplace(name, value);
    for (const char* name : names)
      if (!found.count(name))
        throw std::runtime_error("herald::testing: '" + *command + " env' did not say " + name);
  }
  return Brokers{.amqp_url = found["HERALD_TEST_AMQP_URL"],
                 .kafka_brokers = found["HERALD_TEST_KAFKA_BROKERS"],
                 .postgres_url = found["HERALD_TEST_PG_URL"]};
}

const Brokers& test_brokers() {
  // A function-local static: started once per process, even with tests on
  // several threads; a failure is thrown again on the next call.
  static const Brokers brokers = find_brokers(getenv_nonempty, run_command);
  return brokers;
}

BrokerNamespace::BrokerNamespace(const std::string& prefix) : name_(unique_name(slug(prefix))) {}

BrokerNamespace::~BrokerNamespace() {
#ifdef HERALD_TESTING_WITH_KAFKA
  if (!kafka_bootstrap_.empty()) delete_kafka_topics(kafka_bootstrap_, name_ + ".");
#endif
#ifdef HERALD_TESTING_WITH_POSTGRES
  if (dropped_from_.empty()) return;
  try {
    pqxx::connection c(libpq_url(dropped_from_));
    pqxx::nontransaction tx(c);
    tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(schema()) + " CASCADE");
  } catch (...) {
    // A destructor must not throw; a schema left behind has a name no test reuses.
  }
#endif
}

BusConfig BrokerNamespace::bus_config(BusConfig config) const {
  if (config.url.find('?') != std::string::npos) {
    BusConfig parsed = BusConfig::from_url(config.url);
    config.url = parsed.url;
    for (auto& [key, value] : parsed.options) config.options.emplace(key, value);
  }
  std::string scheme = config.url.substr(0, config.url.find(':'));
  if (scheme == "amqp" || scheme == "amqps") {
    config.options.emplace("exchange", name_);
    config.options.emplace("queue_prefix", name_ + ".");
    config.options.emplace("queue_expires", "5m");
  } else if (scheme == "kafka") {
    kafka_bootstrap_ = config.url.substr(config.url.find("://") + 3);
    while (!kafka_bootstrap_.empty() && kafka_bootstrap_.back() == '/') kafka_bootstrap_.pop_back();
    config.options.emplace("topic_prefix", name_ + ".");
    config.options.emplace("group_prefix", name_ + ".");
  }
  return config;
}

std::string BrokerNamespace::schema() const {
  std::string s = name_;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

std::string BrokerNamespace::postgres_url(const std::string& postgres_url) {
  dropped_from_ = postgres_url;
  return postgres_url + (postgres_url.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema();
}

namespace {
std::unique_ptr<BrokerNamespace>& current_slot() {
  static std::unique_ptr<BrokerNamespace> slot;
  return slot;
}
}  // namespace

void begin_test_namespace(const std::string& test_name) {
  current_slot() = std::make_unique<BrokerNamespace>(test_name);
}

void end_test_namespace() { current_slot().reset(); }

BrokerNamespace& current_test_namespace() {
  if (!current_slot()) throw std::logic_error("herald::testing: no test namespace (begin_test_namespace not called)");
  return *current_slot();
}

}  // namespace herald::testing
