#pragma once
// An AMQP field table that owns its memory, so a message's headers can be
// read on a worker thread and copied onto a retry or dead-letter message
// without losing entries herald does not know. Private to herald::rabbitmq.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amqp.hpp"

namespace herald::rabbitmq {

class Headers {
 public:
  Headers();
  /// Deep copy of `table` (nested tables and arrays included).
  explicit Headers(const amqp_table_t& table);
  Headers(const Headers& other);
  Headers& operator=(const Headers& other);
  Headers(Headers&&) noexcept;
  Headers& operator=(Headers&&) noexcept;
  ~Headers();

  bool empty() const noexcept { return entries_.empty(); }
  /// A string (or byte string) value.
  std::optional<std::string> text(std::string_view key) const;
  /// An integer of any width, or a string holding one; saturated to long
  /// long when larger.
  std::optional<long long> integer(std::string_view key) const;
  /// A string value as it is, an integer as its decimal text.
  std::optional<std::string> as_text(std::string_view key) const;
  /// Every string value whose key starts with `prefix`, as text.
  std::map<std::string, std::string> strings_with_prefix(std::string_view prefix) const;

  void set(std::string_view key, std::string_view value);
  void set(std::string_view key, long long value);
  void set_flag(std::string_view key, bool value);
  void erase(std::string_view key);
  /// Removes every entry whose key `drop` names.
  void erase_if(const std::function<bool(std::string_view key)>& drop);

  /// A view for rabbitmq-c, valid until this object changes or dies.
  amqp_table_t table() const noexcept {
    return amqp_table_t{static_cast<int>(entries_.size()), const_cast<amqp_table_entry_t*>(entries_.data())};
  }

 private:
  // rabbitmq-c's arena, emptied when the headers die.
  struct Pool {
    amqp_pool_t pool;
    Pool() { init_amqp_pool(&pool, 1024); }
    ~Pool() { empty_amqp_pool(&pool); }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
  };
  const amqp_field_value_t* find(std::string_view key) const;
  amqp_bytes_t keep(std::string_view s);  // copies `s` into the pool
  amqp_pool_t& pool();

  std::unique_ptr<Pool> pool_;  // made on first need: most messages carry few or no headers
  std::vector<amqp_table_entry_t> entries_;
};

}  // namespace herald::rabbitmq
