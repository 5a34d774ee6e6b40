#pragma once
// What the parts of one Kafka bus share: options, naming, the producer, the
// topic admin, and the few things only the EventBus itself can do.

#include <functional>
#include <memory>
#include <string>

#include "client_config.hpp"
#include "herald/bus.hpp"
#include "herald/kafka/options.hpp"
#include "herald/scheduler.hpp"
#include "producer.hpp"
#include "topic_admin.hpp"
#include "topic_creator.hpp"
#include "topic_naming.hpp"

namespace herald::kafka {

struct BusServices {
  BusServices(KafkaOptions opts, DecodeOptions decode_options, std::shared_ptr<Scheduler> sched)
      : options(std::move(opts)),
        naming(options),
        redactor(std::make_shared<const Redactor>(options)),
        producer(std::make_unique<Producer>(options, redactor, decode_options.max_data_bytes)),
        admin(producer->handle(), options, *redactor),
        creator({[this](std::string_view topic) { return admin.known(topic); },
                 [this](const std::vector<std::string>& topics) { return admin.ensure(topics); }},
                [this] {
                  if (topics_created) topics_created();
                }),
        decode(decode_options),
        scheduler(std::move(sched)) {
    // Consumers are made at subscribe; check their properties now, so a bad
    // one fails make_bus like a bad producer property does.
    ClientHooks probe(redactor);
    make_conf(options, ClientRole::consumer, probe, {{"group.id", "herald-config-check"}});
  }

  const KafkaOptions options;
  const TopicNaming naming;
  std::shared_ptr<const Redactor> redactor;
  std::unique_ptr<Producer> producer;
  TopicAdmin admin;
  /// Creates topics for threads that must not wait (lanes, the producer's reports).
  TopicCreator creator;
  const DecodeOptions decode;
  std::shared_ptr<Scheduler> scheduler;

  /// The bus's metrics: the delivery core counts retries and dead letters in them.
  Metrics* metrics = nullptr;
  /// Called on the creator's thread after this bus created topics, so
  /// pattern subscriptions see them now.
  std::function<void()> topics_created;
  /// Runs `work` on a thread the bus owns and joins at close (teardown that
  /// cannot run on the calling thread).
  std::function<void(std::function<void()>)> defer;
};

}  // namespace herald::kafka
