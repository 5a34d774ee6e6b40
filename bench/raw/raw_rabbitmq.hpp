// Raw rabbitmq-c baseline for herald's RabbitMQ benchmark.
//
// This is deliberately plain rabbitmq-c with no herald code in it: one
// connection, one channel, publisher confirms with a fixed window on the
// publish side, basic.qos + batched multiple=true acks on the consume side.
// herald's own benchmark runs the same workload through its EventBus, and the
// two rates are reported side by side.
//
// \code
//   herald::bench::RawRabbitConfig cfg;            // guest@127.0.0.1:5672
//   herald::bench::raw_rabbitmq_prepare(cfg);      // declare + purge
//   auto pub = herald::bench::raw_rabbitmq_publish(cfg, bodies, keys, ids);
//   auto sub = herald::bench::raw_rabbitmq_consume(cfg, bodies.size());
//   std::printf("%.0f msg/s in, %.0f msg/s out\n", pub.per_second(), sub.per_second());
// \endcode
//
// Every function opens its own connection and closes it before returning.
// Errors are thrown as std::runtime_error; messages name the host, port, user
// and what failed, never the password.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "raw_rate.hpp"  // RawRate, shared with the other raw baselines

namespace herald::bench {

struct RawRabbitConfig {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest", password = "guest", vhost = "/";
  std::string exchange = "herald.bench.raw";  // durable topic exchange
  std::string queue = "herald.bench.raw.q";   // durable queue bound with "order.*"
  int confirm_window = 256;  // publishes in flight before waiting for confirms
  int prefetch = 256;        // basic.qos prefetch count for the consumer
  int ack_batch = 64;        // ack with multiple=true every N messages
  // Called as the first message arrives and once the last is consumed,
  // before the connection closes: the benchmark reads CPU time there.
  std::function<void()> on_first_message, on_last_message;
};

// Publishes every body (persistent, delivery_mode 2, content_type
// "application/cloudevents+json", message_id = ids[i], routing key =
// routing_keys[i]) with publisher confirms, keeping up to confirm_window
// unconfirmed; returns when all are confirmed. Timed from first publish to last
// confirm.
RawRate raw_rabbitmq_publish(const RawRabbitConfig&, const std::vector<std::string>& bodies,
                             const std::vector<std::string>& routing_keys,
                             const std::vector<std::string>& ids);

// Consumes `count` messages already in the queue with manual acks (batched with
// multiple=true), timed from the first to the last delivery.
RawRate raw_rabbitmq_consume(const RawRabbitConfig&, std::size_t count);

// Declares exchange+queue+binding and purges the queue (call before publish).
void raw_rabbitmq_prepare(const RawRabbitConfig&);

// Publish -> delivery latency at a steady `rate` for `seconds`, herald's
// latency schedule without herald: ticks of 1 ms, each publishing rate/1000
// persistent messages on one connection with publisher confirms (up to
// confirm_window unconfirmed, as herald's publishing threads overlap theirs;
// all confirmed before it returns); a second connection consumes with
// manual acks.
// Each body carries the steady-clock time it was published. Declares and
// purges cfg's exchange and queue itself; returns one sample per message,
// in microseconds, after a warm-up, and the rate the schedule achieved.
RawLatency raw_rabbitmq_latency(const RawRabbitConfig&, double rate, double seconds);

}  // namespace herald::bench
