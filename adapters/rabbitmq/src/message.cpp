#include "message.hpp"

namespace herald::rabbitmq {

namespace {

constexpr std::string_view dead_letter_prefix = "x-herald-dl-";  // DeadLetter::to_headers' names

}  // namespace

void strip_bookkeeping(Headers& h) { h.erase_if(DeliveryState::is_bookkeeping); }

DeliveryState read_delivery_state(const Headers& h) {
  return DeliveryState::read_headers([&](std::string_view name) { return h.as_text(name); });
}

void write_delivery_state(Headers& h, const DeliveryState& state) {
  strip_bookkeeping(h);
  state.write_headers([&](std::string_view name, std::string value) { h.set(name, value); });
}

DeadLetter read_dead_letter(const Headers& h) { return DeadLetter::from_headers(h.strings_with_prefix(dead_letter_prefix)); }

Properties Properties::from(const amqp_basic_properties_t& p) {
  Properties out;
  if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) out.content_type = to_string(p.content_type);
  if (p._flags & AMQP_BASIC_CONTENT_ENCODING_FLAG) out.content_encoding = to_string(p.content_encoding);
  if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) out.message_id = to_string(p.message_id);
  if (p._flags & AMQP_BASIC_CORRELATION_ID_FLAG) out.correlation_id = to_string(p.correlation_id);
  if (p._flags & AMQP_BASIC_TYPE_FLAG) out.type = to_string(p.type);
  if (p._flags & AMQP_BASIC_APP_ID_FLAG) out.app_id = to_string(p.app_id);
  if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) {
    out.timestamp = p.timestamp;
    out.has_timestamp = true;
  }
  if ((p._flags & AMQP_BASIC_HEADERS_FLAG) && p.headers.num_entries > 0) out.headers = Headers(p.headers);
  return out;
}

void Properties::fill(amqp_basic_properties_t& out) const {
  out = amqp_basic_properties_t{};
  out._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  out.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  auto put = [&](const std::string& value, amqp_flags_t flag, amqp_bytes_t& field) {
    if (value.empty()) return;
    out._flags |= flag;
    field = bytes_of(value);
  };
  put(content_type, AMQP_BASIC_CONTENT_TYPE_FLAG, out.content_type);
  put(content_encoding, AMQP_BASIC_CONTENT_ENCODING_FLAG, out.content_encoding);
  put(message_id, AMQP_BASIC_MESSAGE_ID_FLAG, out.message_id);
  put(correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG, out.correlation_id);
  put(type, AMQP_BASIC_TYPE_FLAG, out.type);
  put(app_id, AMQP_BASIC_APP_ID_FLAG, out.app_id);
  put(expiration, AMQP_BASIC_EXPIRATION_FLAG, out.expiration);
  if (has_timestamp) {
    out._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    out.timestamp = timestamp;
  }
  if (!headers.empty()) {
    out._flags |= AMQP_BASIC_HEADERS_FLAG;
    out.headers = headers.table();
  }
}

OutMessage OutMessage::event(std::string_view exchange, std::string buffer, std::size_t body_size,
                             std::string_view routing_key, std::string_view message_id, std::string_view partitionkey,
                             bool mandatory, std::string_view traceparent) {
  OutMessage m;
  m.exchange_ = exchange;
  buffer.resize(body_size);
  buffer.reserve(body_size + routing_key.size() + message_id.size() + partitionkey.size() + traceparent.size());
  buffer.append(routing_key).append(message_id).append(partitionkey).append(traceparent);
  m.buffer_ = std::move(buffer);
  m.body_size_ = static_cast<std::uint32_t>(body_size);
  m.key_size_ = static_cast<std::uint32_t>(routing_key.size());
  m.id_size_ = static_cast<std::uint32_t>(message_id.size());
  m.key2_size_ = static_cast<std::uint32_t>(partitionkey.size());
  m.mandatory_ = mandatory;
  return m;
}

OutMessage OutMessage::to_queue(std::string body, std::shared_ptr<const Properties> properties,
                                std::shared_ptr<const QueueDecl> ensure, std::string queue) {
  OutMessage m;
  m.exchange_ = "";
  m.body_size_ = static_cast<std::uint32_t>(body.size());
  m.key_size_ = static_cast<std::uint32_t>(queue.size());
  m.buffer_ = std::move(body);
  m.buffer_ += queue;
  m.mandatory_ = true;  // a missing queue must not swallow the message
  m.properties_ = std::move(properties);
  m.ensure_ = std::move(ensure);
  return m;
}

}  // namespace herald::rabbitmq
