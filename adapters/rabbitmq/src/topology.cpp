#include "topology.hpp"

namespace herald::rabbitmq {

namespace {

// A conflicting declaration: say what to do about it.
[[noreturn]] void conflict(const ConfigError& e, const std::string& hint) {
  throw ConfigError(std::string(e.what()) + " (" + hint + ")");
}

// How long the dead letters of an ephemeral subscription stay for an
// operator to look at when dead_letter_expires does not say.
constexpr std::chrono::hours ephemeral_dead_letter_keep{24};

// A delay queue expires this long after the longest delay it may hold.
constexpr std::chrono::minutes ephemeral_retry_margin{1};

}  // namespace

void Topology::add_expiry(Headers& arguments) const {
  if (options_.queue_expires.count() > 0) arguments.set("x-expires", static_cast<long long>(options_.queue_expires.count()));
}

void Topology::add_kept_expiry(Headers& arguments) const {
  if (options_.dead_letter_expires.count() > 0)
    arguments.set("x-expires", static_cast<long long>(options_.dead_letter_expires.count()));
}

// A classic queue lives on the one node that declared it: when that node
// dies, redeclaring it elsewhere fails (404 "home node ... is down") and a
// publish routed to it is refused (basic.nack). With queue_type=quorum every
// queue herald declares is therefore a quorum queue, replicated like the
// group's.
// These queues are shared by every bus on the exchange or group, whatever
// its queue_type, and earlier versions made them classic: one that exists
// with the other type is used as it is.
void Topology::add_replication(QueueDecl& decl) const {
  decl.any_existing_type = true;
  if (options_.queue_type == QueueType::quorum) decl.arguments.set("x-queue-type", "quorum");
}

void Topology::declare_exchange(Connection& c, amqp_channel_t channel) const {
  Headers arguments;
  if (options_.unroutable == Unroutable::keep) {
    const std::string ae = unroutable_name();
    amqp_exchange_declare(c.get(), channel, bytes_of(ae), amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
    try {
      c.check(amqp_get_rpc_reply(c.get()), channel, "declaring exchange '" + ae + "'");
    } catch (const ConfigError& e) {
      conflict(e, "it exists with other settings; herald declares it as a durable fanout exchange");
    }
    QueueDecl queue{ae, {}, true};
    queue.arguments.set("x-max-length", options_.unroutable_max);
    queue.arguments.set("x-overflow", "reject-publish");
    add_replication(queue);
    add_kept_expiry(queue.arguments);
    declare(c, channel, queue);
    amqp_queue_bind(c.get(), channel, bytes_of(ae), bytes_of(ae), amqp_empty_bytes, amqp_empty_table);
    c.check(amqp_get_rpc_reply(c.get()), channel, "binding queue '" + ae + "' to exchange '" + ae + "'");
    arguments.set("alternate-exchange", ae);
  }
  amqp_exchange_declare(c.get(), channel, bytes_of(options_.exchange), amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                        arguments.table());
  try {
    c.check(amqp_get_rpc_reply(c.get()), channel, "declaring exchange '" + options_.exchange + "'");
  } catch (const ConfigError& e) {
    conflict(e, "it exists with other settings: herald needs a durable topic exchange, with an alternate exchange "
                "exactly when unroutable=keep; delete it or change the 'exchange' or 'unroutable' option");
  }
}

void Topology::declare_group_queue(Connection& c, amqp_channel_t channel, const std::string& queue) const {
  QueueDecl decl{queue, {}};
  if (options_.queue_type == QueueType::quorum) decl.arguments.set("x-queue-type", "quorum");
  if (options_.single_active_consumer) decl.arguments.set_flag("x-single-active-consumer", true);
  add_expiry(decl.arguments);
  try {
    declare(c, channel, decl);
  } catch (const ConfigError& e) {
    conflict(e, "it exists with other settings: check the queue_type, single_active_consumer and queue_expires "
                "options, or delete the queue");
  }
}

void Topology::bind(Connection& c, amqp_channel_t channel, const std::string& queue, const std::string& pattern) const {
  amqp_queue_bind(c.get(), channel, bytes_of(queue), bytes_of(options_.exchange), bytes_of(pattern), amqp_empty_table);
  c.check(amqp_get_rpc_reply(c.get()), channel,
          "binding queue '" + queue + "' to exchange '" + options_.exchange + "' with '" + pattern + "'");
}

std::shared_ptr<const QueueDecl> Topology::retry_decl(const std::string& queue, int attempt) const {
  auto decl = std::make_shared<QueueDecl>();
  decl->name = retry_queue(queue, attempt);
  decl->arguments.set("x-dead-letter-exchange", "");
  decl->arguments.set("x-dead-letter-routing-key", queue);
  decl->kept = true;
  add_replication(*decl);
  add_kept_expiry(decl->arguments);
  return decl;
}

std::shared_ptr<const QueueDecl> Topology::dead_letter_decl(const std::string& queue) const {
  auto decl = std::make_shared<QueueDecl>();
  decl->name = dead_letter_queue(queue);
  decl->kept = true;
  add_replication(*decl);
  add_kept_expiry(decl->arguments);
  return decl;
}

std::shared_ptr<const QueueDecl> Topology::redelivered_decl(const std::string& queue) const {
  // Consumed with the group queue, so it lives and expires with it.
  auto decl = std::make_shared<QueueDecl>();
  decl->name = redelivered_queue(queue);
  add_replication(*decl);
  add_expiry(decl->arguments);
  return decl;
}

void Topology::declare_ephemeral_queue(Connection& c, amqp_channel_t channel, const std::string& queue) const {
  amqp_queue_declare(c.get(), channel, bytes_of(queue), 0, 0, 1, 1, amqp_empty_table);
  c.check(amqp_get_rpc_reply(c.get()), channel, "declaring exclusive queue '" + queue + "'");
}

std::shared_ptr<const QueueDecl> Topology::ephemeral_retry_decl(const std::string& queue, int attempt,
                                                                std::chrono::milliseconds max_delay) const {
  auto decl = std::make_shared<QueueDecl>();
  decl->name = retry_queue(queue, attempt);
  decl->arguments.set("x-dead-letter-exchange", "");
  decl->arguments.set("x-dead-letter-routing-key", queue);
  decl->arguments.set("x-expires", static_cast<long long>((max_delay + ephemeral_retry_margin).count()));
  decl->refresh = true;
  return decl;
}

std::shared_ptr<const QueueDecl> Topology::ephemeral_dead_letter_decl(const std::string& queue) const {
  auto decl = std::make_shared<QueueDecl>();
  decl->name = dead_letter_queue(queue);
  const std::chrono::milliseconds keep = options_.dead_letter_expires.count() > 0
                                             ? options_.dead_letter_expires
                                             : std::chrono::milliseconds(ephemeral_dead_letter_keep);
  decl->arguments.set("x-expires", static_cast<long long>(keep.count()));
  decl->refresh = true;
  return decl;
}

void Topology::declare_on(Connection& c, amqp_channel_t channel, const QueueDecl& decl) const {
  amqp_queue_declare(c.get(), channel, bytes_of(decl.name), 0, 1, 0, 0, decl.arguments.table());
  c.check(amqp_get_rpc_reply(c.get()), channel, "declaring queue '" + decl.name + "'");
}

void Topology::declare(Connection& c, amqp_channel_t channel, const QueueDecl& decl) const {
  if (!decl.kept && !decl.any_existing_type) {
    declare_on(c, channel, decl);
    return;
  }
  // Earlier versions put queue_expires on kept queues too, and made these
  // queues classic whatever queue_type. Declaring such a queue otherwise is
  // refused and closes the channel: on a spare one, so the caller's channel
  // (the publisher's, in confirm mode) lives on.
  const amqp_channel_t spare = c.next_channel();
  c.open_channel(spare);
  try {
    declare_on(c, spare, decl);
  } catch (const ConfigError& e) {
    const std::string_view what = e.what();
    const bool expiry = decl.kept && what.find("inequivalent arg 'x-expires'") != std::string_view::npos;
    const bool type = decl.any_existing_type && what.find("inequivalent arg 'x-queue-type'") != std::string_view::npos;
    if (!expiry && !type) throw;
    // It exists and takes messages: use it as it is.
  }
  c.close_channel(spare);
}

std::optional<std::uint32_t> Topology::ready_count(Connection& c, amqp_channel_t channel, const std::string& queue) {
  amqp_queue_declare_ok_t* ok = amqp_queue_declare(c.get(), channel, bytes_of(queue), 1, 0, 0, 0, amqp_empty_table);
  try {
    c.check(amqp_get_rpc_reply(c.get()), channel, "checking queue '" + queue + "'");
  } catch (const NotFoundError&) {
    return std::nullopt;
  }
  return ok ? ok->message_count : 0;
}

}  // namespace herald::rabbitmq
