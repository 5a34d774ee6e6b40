#include "herald/lifecycle.hpp"

#include <cstdlib>
#include <string>

namespace herald {

Lifecycle::Lifecycle(EventBus& bus, Options options) : bus_(bus), options_(std::move(options)) {
  if (const char* env = std::getenv("HERALD_LIFECYCLE")) {
    std::string v = env;
    if (v == "off" || v == "false" || v == "0") options_.enabled = false;
  }
}

void Lifecycle::emit(std::string_view entity, std::string_view phase, std::string_view op, const nlohmann::json& data,
                     const nlohmann::json& result, const Context& context) {
  nlohmann::json payload = {{"entity", entity}, {"operation", op}, {"phase", phase}, {"data", data}};
  if (!result.is_null()) payload["result"] = result;
  if (!context.actor.empty()) payload["actor"] = context.actor;
  if (!context.correlationid.empty()) payload["correlationid"] = context.correlationid;
  Envelope e = Envelope::make(std::string(entity) + "." + std::string(phase) + "." + std::string(op), nullptr,
                              options_.source);
  payload["time"] = format_time(e.time);
  e.set_payload(payload);
  e.actor = context.actor;
  e.correlationid = context.correlationid;
  e.partitionkey = context.partitionkey;
  e.aggregatetype = std::string(entity);
  e.aggregateid = context.partitionkey;
  bus_.publish(std::move(e));
}

void Lifecycle::emit_failure(std::string_view entity, std::string_view op, const nlohmann::json& data,
                             const std::string& error, const Context& context) {
  nlohmann::json result = {{"error", error}};
  try {
    emit(entity, "failed", op, data, result, context);
  } catch (...) {
    // The operation's own error is what the caller must see.
  }
}

}  // namespace herald
