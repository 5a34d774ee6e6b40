// Plain librdkafka (C API) baseline. See raw_kafka.hpp.

#include "raw_kafka.hpp"

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>

namespace herald::bench {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- handles

struct ConfDeleter { void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); } };
struct KafkaDeleter { void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); } };
struct TopicDeleter { void operator()(rd_kafka_topic_t* p) const noexcept { rd_kafka_topic_destroy(p); } };
struct QueueDeleter { void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); } };
struct EventDeleter { void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); } };
struct NewTopicDeleter { void operator()(rd_kafka_NewTopic_t* p) const noexcept { rd_kafka_NewTopic_destroy(p); } };
struct AdminOptionsDeleter { void operator()(rd_kafka_AdminOptions_t* p) const noexcept { rd_kafka_AdminOptions_destroy(p); } };
struct HeadersDeleter { void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); } };
struct MessageDeleter { void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); } };
struct PartitionListDeleter { void operator()(rd_kafka_topic_partition_list_t* p) const noexcept { rd_kafka_topic_partition_list_destroy(p); } };
struct MetadataDeleter { void operator()(const rd_kafka_metadata_t* p) const noexcept { rd_kafka_metadata_destroy(p); } };
// A consumer leaves its group cleanly before it is destroyed.
struct ConsumerDeleter {
  void operator()(rd_kafka_t* p) const noexcept {
    rd_kafka_consumer_close(p);
    rd_kafka_destroy(p);
  }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConsumerPtr = std::unique_ptr<rd_kafka_t, ConsumerDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

[[noreturn]] void fail(const std::string& what, rd_kafka_resp_err_t err) {
  throw std::runtime_error("raw_kafka: " + what + ": " + rd_kafka_err2str(err) + " (" + rd_kafka_err2name(err) + ")");
}

[[noreturn]] void fail(const std::string& what, const char* detail) {
  throw std::runtime_error("raw_kafka: " + what + ": " + detail);
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fail("config " + key + "=" + value, errstr);
  }
}

ConfPtr make_conf(const RawKafkaConfig& config) {
  ConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "bootstrap.servers", config.brokers);
  set(conf.get(), "client.id", "herald-bench-raw");
  return conf;
}

// Takes ownership of conf on success (librdkafka's rule), keeps it otherwise.
template <typename Ptr>
Ptr make_handle(rd_kafka_type_t type, ConfPtr conf, const char* what) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) fail(std::string("create ") + what, errstr);
  conf.release();
  return Ptr(rk);
}

// Records the first fatal error (idempotent producer, consumer) for the caller to throw.
struct ErrorState {
  rd_kafka_resp_err_t fatal = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string fatal_reason;
};

void on_error(rd_kafka_t* rk, int err, const char* /*reason*/, void* opaque) {
  auto* state = static_cast<ErrorState*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL && state->fatal == RD_KAFKA_RESP_ERR_NO_ERROR) {
    char buf[512];
    state->fatal = rd_kafka_fatal_error(rk, buf, sizeof buf);
    state->fatal_reason = buf;
    return;
  }
  // Transient errors (broker down, reconnecting): librdkafka retries by itself
  // and already logs them to stderr; the callers' deadlines catch the rest.
}

void throw_if_fatal(const ErrorState& state, const std::string& what) {
  if (state.fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("raw_kafka: " + what + ": fatal error " + rd_kafka_err2name(state.fatal) + ": " + state.fatal_reason);
  }
}

// Waits until the topic is in the metadata with `want` partitions (or at least one
// when want <= 0), each with a leader.
void wait_for_topic(rd_kafka_t* rk, const std::string& topic, int want, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  TopicPtr rkt(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  if (!rkt) fail("topic handle " + topic, rd_kafka_last_error());
  std::string last = "no metadata yet";
  while (Clock::now() < deadline) {
    const rd_kafka_metadata_t* raw = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt.get(), &raw, 5000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      MetadataPtr md(raw);
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const auto& t = md->topics[0];
        bool leaders = t.partition_cnt > 0;
        for (int i = 0; i < t.partition_cnt; ++i) leaders = leaders && t.partitions[i].leader >= 0 && t.partitions[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (leaders && (want <= 0 || t.partition_cnt >= want)) return;
        last = std::to_string(t.partition_cnt) + " partitions, not all with a leader";
      } else if (md->topic_cnt == 1) {
        last = rd_kafka_err2str(md->topics[0].err);
      }
    } else {
      last = rd_kafka_err2str(err);
    }
    usleep(100 * 1000);
  }
  fail("topic " + topic + " not ready after " + std::to_string(limit.count()) + " s", last.c_str());
}

// ---------------------------------------------------------------- produce

struct DeliveryState {
  std::size_t delivered = 0;
  std::size_t failed = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  Clock::time_point last_report{};
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* state = static_cast<DeliveryState*>(opaque);
  state->last_report = Clock::now();
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (state->failed++ == 0) state->first_error = msg->err;
  } else {
    ++state->delivered;
  }
}

// Both callbacks share one opaque, so it holds both states.
struct ProducerOpaque {
  DeliveryState delivery;
  ErrorState errors;
};

void producer_dr(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque) {
  on_delivery(rk, msg, &static_cast<ProducerOpaque*>(opaque)->delivery);
}

void producer_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  on_error(rk, err, reason, &static_cast<ProducerOpaque*>(opaque)->errors);
}

void consumer_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  on_error(rk, err, reason, static_cast<ErrorState*>(opaque));
}

std::string fresh_group_id() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  char buf[64];
  std::snprintf(buf, sizeof buf, "herald.bench.raw.%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

}  // namespace

void raw_kafka_prepare(const RawKafkaConfig& config) {
  if (config.partitions < 1) throw std::runtime_error("raw_kafka: partitions must be >= 1");
  ConfPtr conf = make_conf(config);
  auto rk = make_handle<KafkaPtr>(RD_KAFKA_PRODUCER, std::move(conf), "admin client");

  char errstr[512];
  NewTopicPtr topic(rd_kafka_NewTopic_new(config.topic.c_str(), config.partitions, 1, errstr, sizeof errstr));
  if (!topic) fail("describe new topic " + config.topic, errstr);

  AdminOptionsPtr options(rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_operation_timeout(options.get(), 30000, errstr, sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_AdminOptions_set_request_timeout(options.get(), 30000, errstr, sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail("admin options", errstr);
  }

  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(rk.get(), topics, 1, options.get(), queue.get());

  EventPtr event(rd_kafka_queue_poll(queue.get(), 60000));
  if (!event) fail("create topic " + config.topic, "no answer within 60 s");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail("create topic " + config.topic + " (" + rd_kafka_event_error_string(event.get()) + ")", rd_kafka_event_error(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  if (result == nullptr) fail("create topic " + config.topic, "unexpected admin event type");
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &n);
  for (std::size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* msg = rd_kafka_topic_result_error_string(results[i]);
      fail("create topic " + config.topic + (msg ? std::string(" (") + msg + ")" : std::string()), err);
    }
  }
  // An existing topic keeps its partition count; only wait for leaders then.
  wait_for_topic(rk.get(), config.topic, 0, std::chrono::seconds(30));
}

namespace {

// A producer of config.topic with config.producer_props, its reports and
// errors in `state`. Connected and knowing the topic before it returns, so
// no clock started after it counts the first metadata round trip.
std::pair<KafkaPtr, TopicPtr> open_producer(const RawKafkaConfig& config, ProducerOpaque& state) {
  ConfPtr conf = make_conf(config);
  for (const auto& [key, value] : config.producer_props) set(conf.get(), key, value);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), producer_dr);
  rd_kafka_conf_set_error_cb(conf.get(), producer_error);
  rd_kafka_conf_set_opaque(conf.get(), &state);
  auto rk = make_handle<KafkaPtr>(RD_KAFKA_PRODUCER, std::move(conf), "producer");
  TopicPtr rkt(rd_kafka_topic_new(rk.get(), config.topic.c_str(), nullptr));
  if (!rkt) fail("topic handle " + config.topic, rd_kafka_last_error());
  wait_for_topic(rk.get(), config.topic, 0, std::chrono::seconds(30));
  return {std::move(rk), std::move(rkt)};
}

// A consumer of config.topic in a fresh group, reading from the earliest
// offset, storing offsets only when told (auto commit of stored offsets),
// then config.consumer_props; its fatal errors in `errors`.
ConsumerPtr open_consumer(const RawKafkaConfig& config, ErrorState& errors, const char* what) {
  ConfPtr conf = make_conf(config);
  set(conf.get(), "group.id", fresh_group_id());
  set(conf.get(), "auto.offset.reset", "earliest");
  set(conf.get(), "enable.auto.commit", "true");
  set(conf.get(), "enable.auto.offset.store", "false");
  for (const auto& [key, value] : config.consumer_props) set(conf.get(), key, value);
  rd_kafka_conf_set_error_cb(conf.get(), consumer_error);
  rd_kafka_conf_set_opaque(conf.get(), &errors);
  auto rk = make_handle<ConsumerPtr>(RD_KAFKA_CONSUMER, std::move(conf), what);
  rd_kafka_poll_set_consumer(rk.get());
  PartitionListPtr subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), config.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk.get(), subscription.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    fail("subscribe to " + config.topic, err);
  return rk;
}

}  // namespace

RawRate raw_kafka_produce(const RawKafkaConfig& config, const std::vector<RawKafkaMessage>& messages) {
  ProducerOpaque state;
  auto [rk, rkt] = open_producer(config, state);

  const auto start = Clock::now();
  for (const auto& m : messages) {
    HeadersPtr headers;
    if (!m.headers.empty()) {
      headers.reset(rd_kafka_headers_new(m.headers.size()));
      for (const auto& [name, value] : m.headers) {
        rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(), static_cast<ssize_t>(value.size()));
      }
    }
    for (;;) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_RKT(rkt.get()), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
          RD_KAFKA_V_HEADERS(headers.get()), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        headers.release();  // owned by librdkafka now
        break;
      }
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk.get(), 10);  // serve delivery reports to make room
        continue;
      }
      throw_if_fatal(state.errors, "produce");
      fail("produce to " + config.topic, err);
    }
    rd_kafka_poll(rk.get(), 0);
  }

  // Every message gets a report within message.timeout.ms (default 300 s).
  const auto limit = Clock::now() + std::chrono::seconds(330);
  while (state.delivery.delivered + state.delivery.failed < messages.size()) {
    throw_if_fatal(state.errors, "produce");
    if (Clock::now() > limit) {
      throw std::runtime_error("raw_kafka: " + std::to_string(messages.size() - state.delivery.delivered - state.delivery.failed) +
                               " delivery reports missing after 330 s");
    }
    rd_kafka_flush(rk.get(), 100);
  }
  throw_if_fatal(state.errors, "produce");
  if (state.delivery.failed > 0) {
    fail(std::to_string(state.delivery.failed) + " of " + std::to_string(messages.size()) + " messages not delivered, first error",
         state.delivery.first_error);
  }
  RawRate rate;
  rate.messages = messages.size();
  rate.seconds = messages.empty() ? 0 : seconds_between(start, state.delivery.last_report);
  return rate;
}

RawRate raw_kafka_consume(const RawKafkaConfig& config, std::size_t count) {
  ErrorState errors;
  const auto auto_commit = config.consumer_props.find("enable.auto.commit");
  const bool commit_async = auto_commit != config.consumer_props.end() && auto_commit->second == "false";
  constexpr std::size_t commit_every = 1000;
  ConsumerPtr rk = open_consumer(config, errors, "consumer");

  constexpr auto idle_limit = std::chrono::seconds(30);
  std::size_t received = 0;
  std::size_t bytes = 0;  // touched so the handling is not optimised away
  Clock::time_point first{}, last{};
  auto last_progress = Clock::now();
  while (received < count) {
    throw_if_fatal(errors, "consume");
    MessagePtr msg(rd_kafka_consumer_poll(rk.get(), 100));
    if (!msg) {
      if (Clock::now() - last_progress > idle_limit) {
        throw std::runtime_error("raw_kafka: consumed " + std::to_string(received) + " of " + std::to_string(count) +
                                 " messages from " + config.topic + ", then nothing for " + std::to_string(idle_limit.count()) + " s");
      }
      continue;
    }
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      switch (msg->err) {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
          continue;  // informational / transient: librdkafka recovers by itself
        default:
          fail("consume from " + config.topic + " (" + rd_kafka_message_errstr(msg.get()) + ")", msg->err);
      }
    }
    if (received == 0 && config.on_first_record) config.on_first_record();
    last = Clock::now();
    if (received == 0) first = last;
    last_progress = last;
    ++received;

    // What a bus does before a handler sees the event: look at key, value and headers.
    bytes += msg->len + msg->key_len;
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(msg.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) bytes += size;
    }

    if (config.per_value) bytes += config.per_value(static_cast<const char*>(msg->payload), msg->len);
    if (config.parse_values) {
      auto value = nlohmann::json::parse(static_cast<const char*>(msg->payload),
                                         static_cast<const char*>(msg->payload) + msg->len);
      bytes += value.size();
    }

    // At-least-once: the offset is stored only once the message has been handled.
    if (rd_kafka_resp_err_t err = rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail("store offset", err);
    }
    if (commit_async && received % commit_every == 0) {
      if (rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), nullptr, 1); err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        fail("commit", err);
      }
    }
  }
  RawRate rate;
  rate.messages = received;
  rate.seconds = received > 1 ? seconds_between(first, last) : 0;
  if (config.on_last_record) config.on_last_record();

  // Final synchronous commit of the stored offsets, outside the timed part.
  if (rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), nullptr, 0); err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    fail("final commit", err);
  }
  (void)bytes;
  return rate;
}

RawLatency raw_kafka_latency(const RawKafkaConfig& config, double rate, double seconds) {
  const LatencySchedule schedule(rate, seconds);
  const std::size_t total = schedule.total();
  raw_kafka_prepare(config);

  // The consumer: its own thread, nothing escapes it (the error waits for join).
  std::atomic<std::size_t> received{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<double> samples;
  samples.reserve(total);
  std::exception_ptr failed;
  std::thread consumer([&] {
    try {
      ErrorState errors;
      ConsumerPtr rk = open_consumer(config, errors, "latency consumer");
      while (!stop.load() && received.load() < total) {
        throw_if_fatal(errors, "latency consumer");
        MessagePtr msg(rd_kafka_consumer_poll(rk.get(), 100));
        if (!msg || msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        const auto now = Clock::now().time_since_epoch().count();
        std::int64_t sent = 0;
        if (msg->len >= sizeof sent) std::memcpy(&sent, msg->payload, sizeof sent);
        {
          std::lock_guard lock(mutex);
          samples.push_back(std::chrono::duration<double, std::micro>(Clock::duration(now - sent)).count());
        }
        rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
        received.fetch_add(1);
      }
    } catch (...) {
      failed = std::current_exception();
    }
    stop.store(true);
  });
  struct Joiner {
    std::thread& t;
    std::atomic<bool>& stop;
    ~Joiner() {
      stop.store(true);
      if (t.joinable()) t.join();
    }
  } joiner{consumer, stop};
  // Polls a counter against a deadline (the consumer thread owns its handle).
  auto wait_for = [&](std::size_t n, const char* what) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (received.load() < n && !stop.load()) {
      if (Clock::now() > deadline) fail(std::string("latency: ") + what, "no progress within 60 s");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    // `stop` set means the consumer has ended, after writing `failed`.
    if (stop.load() && failed) std::rethrow_exception(failed);
    if (received.load() < n) fail(std::string("latency: ") + what, "the consumer stopped");
  };

  ProducerOpaque state;
  auto [rk, rkt] = open_producer(config, state);
  std::string value(300, 'x');  // about herald's latency event
  std::size_t produced = 0;
  auto produce = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i, ++produced) {
      const std::string key = "order-" + std::to_string(produced % 100);
      const std::int64_t now = Clock::now().time_since_epoch().count();
      std::memcpy(value.data(), &now, sizeof now);
      rd_kafka_resp_err_t err;
      while ((err = rd_kafka_producev(rk.get(), RD_KAFKA_V_RKT(rkt.get()), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
                                      RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_END)) ==
             RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk.get(), 10);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) fail("latency produce to " + config.topic, err);
    }
    rd_kafka_poll(rk.get(), 0);
    throw_if_fatal(state.errors, "latency produce");
  };
  produce(LatencySchedule::warm_up);
  wait_for(LatencySchedule::warm_up, "the warm-up was not consumed");
  const double achieved = schedule.run(produce);
  rd_kafka_flush(rk.get(), 30000);
  if (state.delivery.failed > 0) fail("latency: records not delivered, first error", state.delivery.first_error);
  wait_for(total, "not every record was consumed");
  stop.store(true);
  consumer.join();
  if (failed) std::rethrow_exception(failed);
  std::lock_guard lock(mutex);
  return schedule.result(std::move(samples), achieved);
}

void raw_kafka_delete_topics(const std::string& brokers, const std::vector<std::string>& prefixes) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err),
                                                        rd_kafka_destroy);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    std::fprintf(stderr, "raw_kafka: cleanup: %s\n", err);
    return;
  }
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  std::vector<rd_kafka_DeleteTopic_t*> doomed;
  for (int i = 0; i < md->topic_cnt; ++i)
    for (const auto& p : prefixes)
      if (std::string_view(md->topics[i].topic).substr(0, p.size()) == p) {
        doomed.push_back(rd_kafka_DeleteTopic_new(md->topics[i].topic));
        break;
      }
  rd_kafka_metadata_destroy(md);
  if (doomed.empty()) return;
  std::unique_ptr<rd_kafka_queue_t, void (*)(rd_kafka_queue_t*)> queue(rd_kafka_queue_new(rk.get()), rd_kafka_queue_destroy);
  rd_kafka_DeleteTopics(rk.get(), doomed.data(), doomed.size(), nullptr, queue.get());
  if (rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 30000)) {
    if (rd_kafka_event_error(ev)) std::fprintf(stderr, "raw_kafka: cleanup: %s\n", rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_DeleteTopic_destroy_array(doomed.data(), doomed.size());
}

}  // namespace herald::bench
