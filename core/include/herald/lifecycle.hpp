#pragma once
// Lifecycle events around a write: {entity}.before.{op}, then
// {entity}.after.{op} or {entity}.failed.{op}.

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "herald/bus.hpp"

namespace herald {

/// \code
///   herald::Lifecycle lifecycle(*bus, {.source = "orders"});
///   Order o = lifecycle.run("order", "create", {{"sku", "A1"}}, [&] { return repo.create(...); },
///                           {.actor = "user:7", .partitionkey = "42"});
/// \endcode
class Lifecycle {
 public:
  struct Options {
    /// Empty: the bus's configured source (BusConfig::source, HERALD_SOURCE).
    std::string source;
    /// Off: run() only calls the operation. HERALD_LIFECYCLE=off also switches it off.
    bool enabled = true;
  };
  struct Context {
    std::string actor;
    std::string correlationid;
    std::string partitionkey;
  };

  Lifecycle(EventBus& bus, Options options);
  bool enabled() const noexcept { return options_.enabled; }
  void set_enabled(bool on) noexcept { options_.enabled = on; }

  /// Emits before, runs `operation`, emits after with its result (when it can
  /// be converted to JSON) or failed with the error, which is rethrown.
  template <class F>
  std::invoke_result_t<F&> run(std::string_view entity, std::string_view op, const nlohmann::json& data,
                               F&& operation, const Context& context = {}) {
    if (!options_.enabled) return operation();
    emit(entity, "before", op, data, nullptr, context);
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        operation();
        emit(entity, "after", op, data, nullptr, context);
      } else {
        auto result = operation();
        nlohmann::json json_result;
        if constexpr (std::is_constructible_v<nlohmann::json, decltype(result)>) json_result = result;
        emit(entity, "after", op, data, json_result, context);
        return result;
      }
    } catch (const std::exception& ex) {
      emit_failure(entity, op, data, ex.what(), context);
      throw;
    } catch (...) {
      emit_failure(entity, op, data, "unknown error", context);
      throw;
    }
  }

 private:
  void emit(std::string_view entity, std::string_view phase, std::string_view op, const nlohmann::json& data,
            const nlohmann::json& result, const Context& context);
  void emit_failure(std::string_view entity, std::string_view op, const nlohmann::json& data,
                    const std::string& error, const Context& context);
  EventBus& bus_;
  Options options_;
};

}  // namespace herald
