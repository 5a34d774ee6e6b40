#pragma once
// Messages as the transport handles them: what arrives on a channel and what
// goes out to the publisher. Private to herald::rabbitmq.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "amqp.hpp"
#include "headers.hpp"
#include "herald/dead_letter.hpp"
#include "herald/ext/delivery.hpp"

namespace herald::rabbitmq {

/// Header names of the RabbitMQ binding that belong to the event, not to
/// its delivery (the delivery state's are core's: herald::delivery_header).
namespace header {
inline constexpr std::string_view partitionkey = "x-herald-partitionkey";
// W3C trace context as an AMQP header too (the body has it), for tools and
// clients that read headers (OpenTelemetry's AMQP propagation).
inline constexpr std::string_view traceparent = "traceparent";
}  // namespace header

/// Removes delivery bookkeeping (DeliveryState::is_bookkeeping: retry counts
/// and any dead-letter record), keeping the rest (the partition key, foreign
/// headers).
void strip_bookkeeping(Headers& headers);
/// The delivery state a message carries; a number of any integer type reads
/// as its decimal text.
DeliveryState read_delivery_state(const Headers& headers);
/// Replaces the message's delivery bookkeeping with `state`.
void write_delivery_state(Headers& headers, const DeliveryState& state);
/// The dead-letter record in a message's headers (DeadLetter::to_headers),
/// without event or body.
DeadLetter read_dead_letter(const Headers& headers);

/// The basic properties herald keeps when it copies a message (retry, dead
/// letter, replay). Owns its strings.
struct Properties {
  std::string content_type;
  std::string content_encoding;
  std::string message_id;
  std::string correlation_id;
  std::string type;
  std::string app_id;
  std::string expiration;  // per-message TTL in ms, for delay queues
  std::uint64_t timestamp = 0;
  bool has_timestamp = false;
  Headers headers;

  static Properties from(const amqp_basic_properties_t& p);
  /// Fills `out` with views into this object (persistent delivery mode).
  void fill(amqp_basic_properties_t& out) const;
};

/// A message that arrived on a channel: basic.deliver, basic.return or basic.get-ok.
struct Delivery {
  amqp_channel_t channel = 0;
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  Properties properties;
  std::string body;
  // basic.return only
  int reply_code = 0;
  std::string reply_text;
};

/// A queue with its declaration arguments (used to declare it before a
/// publish to it through the default exchange).
struct QueueDecl {
  std::string name;
  Headers arguments;
  /// Holds messages nobody consumes (delay, dead-letter, unroutable queues):
  /// an existing one is used whatever its x-expires (see Topology::declare).
  bool kept = false;
  /// Quorum with queue_type=quorum, classic otherwise, and one that exists
  /// with the other type is used as it is (see Topology::add_replication).
  bool any_existing_type = false;
  /// Declared before every message to it, not once per connection: its
  /// x-expires counts from the last declaration (an ephemeral
  /// subscription's delay and dead-letter queues, see Topology).
  bool refresh = false;
};

/// One message for the publisher. Events keep body, routing key, message id
/// and partition key in one buffer (one allocation on the hot path); messages
/// herald moves carry full properties instead.
class OutMessage {
 public:
  OutMessage() = default;
  /// `exchange` must outlive the publisher (the options' string).
  static OutMessage event(std::string_view exchange, std::string buffer, std::size_t body_size, std::string_view routing_key,
                          std::string_view message_id, std::string_view partitionkey, bool mandatory,
                          std::string_view traceparent = {});
  /// A copy to `queue` through the default exchange, declared first when `ensure` is set.
  static OutMessage to_queue(std::string body, std::shared_ptr<const Properties> properties,
                             std::shared_ptr<const QueueDecl> ensure, std::string queue);

  std::string_view exchange() const noexcept { return exchange_; }
  std::string_view body() const noexcept { return std::string_view(buffer_).substr(0, body_size_); }
  std::string_view routing_key() const noexcept { return std::string_view(buffer_).substr(body_size_, key_size_); }
  std::string_view message_id() const noexcept {
    return properties_ ? std::string_view(properties_->message_id)
                       : std::string_view(buffer_).substr(body_size_ + key_size_, id_size_);
  }
  std::string_view partitionkey() const noexcept {
    return std::string_view(buffer_).substr(body_size_ + key_size_ + id_size_, key2_size_);
  }
  std::string_view traceparent() const noexcept {
    return properties_ ? std::string_view() : std::string_view(buffer_).substr(body_size_ + key_size_ + id_size_ + key2_size_);
  }
  bool mandatory() const noexcept { return mandatory_; }
  const Properties* properties() const noexcept { return properties_.get(); }
  const QueueDecl* ensure() const noexcept { return ensure_.get(); }

 private:
  std::string_view exchange_;
  std::string buffer_;
  std::uint32_t body_size_ = 0, key_size_ = 0, id_size_ = 0, key2_size_ = 0;  // key2: the partition key
  bool mandatory_ = false;
  std::shared_ptr<const Properties> properties_;
  std::shared_ptr<const QueueDecl> ensure_;
};

}  // namespace herald::rabbitmq
