// Hand test of the raw librdkafka baseline against a running broker.
//
//   g++ -std=c++20 -O2 -o /tmp/raw_kafka bench/raw/raw_kafka_main.cpp bench/raw/raw_kafka.cpp -lrdkafka
//   scripts/brokers/kafka start && /tmp/raw_kafka [messages] [brokers] [topic]
//
// Defaults: 100000 messages of ~400 bytes, keys spread over 100 aggregate ids,
// CloudEvents binary-mode style ce_* headers, topic herald.bench.raw.<pid>
// (fresh per run, so the consumer reads exactly this run's messages).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <unistd.h>
#include <vector>

#include "raw_kafka.hpp"

using namespace herald::bench;

int main(int argc, char** argv) {
  try {
    const std::size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
    RawKafkaConfig config;
    if (argc > 2) config.brokers = argv[2];
    config.topic = argc > 3 ? argv[3] : "herald.bench.raw." + std::to_string(getpid());

    std::vector<RawKafkaMessage> messages;
    messages.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      RawKafkaMessage m;
      m.key = "order-" + std::to_string(i % 100);
      m.value = R"({"orderId":")" + m.key + R"(","seq":)" + std::to_string(i) + R"(,"customer":"c-42","lines":[{"sku":"sku-1","qty":2,"price":"19.90"}],"note":")";
      m.value.append(400 - std::min<std::size_t>(m.value.size() + 2, 400), 'x');
      m.value += "\"}";
      m.headers = {{"ce_specversion", "1.0"},
                   {"ce_id", "0190b6e0-0000-7000-8000-" + std::to_string(100000000000 + i)},
                   {"ce_type", "order.created"},
                   {"ce_source", "/orders"},
                   {"ce_partitionkey", m.key},
                   {"content-type", "application/json"}};
      messages.push_back(std::move(m));
    }

    std::printf("topic %s on %s, %zu messages of %zu bytes\n", config.topic.c_str(), config.brokers.c_str(), count,
                messages.empty() ? 0 : messages.front().value.size());
    raw_kafka_prepare(config);
    raw_kafka_prepare(config);  // second call: topic exists, must be a no-op
    const RawRate produced = raw_kafka_produce(config, messages);
    std::printf("produce: %zu messages in %.3f s = %.0f msg/s\n", produced.messages, produced.seconds, produced.per_second());
    const RawRate consumed = raw_kafka_consume(config, count);
    std::printf("consume: %zu messages in %.3f s = %.0f msg/s\n", consumed.messages, consumed.seconds, consumed.per_second());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
