#include "headers.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <cstring>
#include <new>

namespace herald::rabbitmq {

Headers::Headers() = default;

amqp_pool_t& Headers::pool() {
  if (!pool_) pool_ = std::make_unique<Pool>();
  return pool_->pool;
}

Headers::Headers(const amqp_table_t& table) : Headers() {
  if (table.num_entries <= 0) return;
  amqp_table_t copy{};
  if (amqp_table_clone(&table, &copy, &pool()) == AMQP_STATUS_OK) {
    entries_.assign(copy.entries, copy.entries + copy.num_entries);
    return;
  }
  // rabbitmq-c cannot copy some entries it decodes (an empty key, also in a
  // nested table): a foreign message carrying one must still be delivered,
  // so those entries are left out and the rest kept.
  for (int i = 0; i < table.num_entries; ++i) {
    amqp_table_t one{1, &table.entries[i]};
    if (amqp_table_clone(&one, &copy, &pool()) == AMQP_STATUS_OK) entries_.push_back(copy.entries[0]);
  }
}

Headers::Headers(const Headers& other) : Headers(other.table()) {}

Headers& Headers::operator=(const Headers& other) {
  if (this != &other) *this = Headers(other);
  return *this;
}

Headers::Headers(Headers&&) noexcept = default;
Headers& Headers::operator=(Headers&&) noexcept = default;
Headers::~Headers() = default;

const amqp_field_value_t* Headers::find(std::string_view key) const {
  for (const auto& e : entries_)
    if (to_view(e.key) == key) return &e.value;
  return nullptr;
}

std::optional<std::string> Headers::text(std::string_view key) const {
  const amqp_field_value_t* v = find(key);
  if (!v) return std::nullopt;
  if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES) return to_string(v->value.bytes);
  return std::nullopt;
}

std::optional<long long> Headers::integer(std::string_view key) const {
  const amqp_field_value_t* v = find(key);
  if (!v) return std::nullopt;
  switch (v->kind) {
    case AMQP_FIELD_KIND_I8: return v->value.i8;
    case AMQP_FIELD_KIND_U8: return v->value.u8;
    case AMQP_FIELD_KIND_I16: return v->value.i16;
    case AMQP_FIELD_KIND_U16: return v->value.u16;
    case AMQP_FIELD_KIND_I32: return v->value.i32;
    case AMQP_FIELD_KIND_U32: return v->value.u32;
    case AMQP_FIELD_KIND_I64: return v->value.i64;
    case AMQP_FIELD_KIND_U64:  // beyond long long: as large as it gets, not negative
      return v->value.u64 > static_cast<std::uint64_t>(LLONG_MAX) ? LLONG_MAX : static_cast<long long>(v->value.u64);
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: {
      std::string s = to_string(v->value.bytes);
      try {
        std::size_t used = 0;
        long long n = std::stoll(s, &used);
        if (used == s.size()) return n;
      } catch (const std::out_of_range&) {
        // Digits beyond long long: saturate, keeping the sign.
        const std::size_t start = s.find_first_not_of(" \t\n\v\f\r");
        const bool digits = start != std::string::npos &&
                            s.find_first_not_of("0123456789", start + (s[start] == '-' || s[start] == '+')) ==
                                std::string::npos;
        if (digits) return s[start] == '-' ? LLONG_MIN : LLONG_MAX;
      } catch (const std::exception&) {
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> Headers::as_text(std::string_view key) const {
  const amqp_field_value_t* v = find(key);
  if (!v) return std::nullopt;
  if (v->kind == AMQP_FIELD_KIND_UTF8 || v->kind == AMQP_FIELD_KIND_BYTES) return to_string(v->value.bytes);
  if (auto n = integer(key)) return std::to_string(*n);
  return std::nullopt;
}

std::map<std::string, std::string> Headers::strings_with_prefix(std::string_view prefix) const {
  std::map<std::string, std::string> out;
  for (const auto& e : entries_) {
    std::string_view k = to_view(e.key);
    if (k.substr(0, prefix.size()) != prefix) continue;
    if (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES)
      out[std::string(k)] = to_string(e.value.value.bytes);
    else if (auto n = integer(k))
      out[std::string(k)] = std::to_string(*n);
  }
  return out;
}

amqp_bytes_t Headers::keep(std::string_view s) {
  amqp_bytes_t b{};
  if (s.empty()) return amqp_bytes_t{0, nullptr};
  amqp_pool_alloc_bytes(&pool(), s.size(), &b);
  if (!b.bytes) throw std::bad_alloc();
  std::memcpy(b.bytes, s.data(), s.size());
  return b;
}

void Headers::set(std::string_view key, std::string_view value) {
  erase(key);
  amqp_table_entry_t e{};
  e.key = keep(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = keep(value);
  entries_.push_back(e);
}

void Headers::set(std::string_view key, long long value) {
  erase(key);
  amqp_table_entry_t e{};
  e.key = keep(key);
  e.value.kind = AMQP_FIELD_KIND_I64;
  e.value.value.i64 = value;
  entries_.push_back(e);
}

void Headers::set_flag(std::string_view key, bool value) {
  erase(key);
  amqp_table_entry_t e{};
  e.key = keep(key);
  e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  e.value.value.boolean = value ? 1 : 0;
  entries_.push_back(e);
}

void Headers::erase(std::string_view key) {
  std::erase_if(entries_, [&](const amqp_table_entry_t& e) { return to_view(e.key) == key; });
}

void Headers::erase_if(const std::function<bool(std::string_view key)>& drop) {
  std::erase_if(entries_, [&](const amqp_table_entry_t& e) { return drop(to_view(e.key)); });
}

}  // namespace herald::rabbitmq
