#include "herald/tracing.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "herald/context.hpp"
#include "otlp_env.hpp"

namespace herald::trace {

namespace {

thread_local const SpanContext* current_scope = nullptr;

// Ids need to be unique, not secret: a per-thread xoshiro256** seeded once.
class IdSource {
 public:
  IdSource() {
    std::random_device rd;
    std::uint64_t seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                         static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                         std::hash<std::thread::id>{}(std::this_thread::get_id());
    for (auto& s : s_) s = splitmix(seed);
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

IdSource& ids() {
  thread_local IdSource source;
  return source;
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& out) {
  for (std::size_t i = 0; i < N; i += 8) {
    std::uint64_t v = ids().next();
    for (std::size_t j = 0; j < 8 && i + j < N; ++j) out[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) noexcept {
  for (auto b : a)
    if (b) return false;
  return true;
}

constexpr char hex_digits[] = "0123456789abcdef";

template <std::size_t N>
void put_hex(std::string& out, const std::array<std::uint8_t, N>& bytes) {
  for (auto b : bytes) {
    out.push_back(hex_digits[b >> 4]);
    out.push_back(hex_digits[b & 0xF]);
  }
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C: lowercase only
}

template <std::size_t N>
bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

struct Installed {
  std::mutex mutex;
  std::shared_ptr<Tracer> tracer;
  bool chosen = false;  // set_tracer() was called, or the environment was read
};

Installed& installed() {
  static Installed i;
  return i;
}

// Read on every publish and handler run: the common case (no tracer) costs one load.
std::atomic<bool> any_tracer{false};

}  // namespace

bool SpanContext::valid() const noexcept { return !all_zero(trace_id) && !all_zero(span_id); }

std::string SpanContext::trace_id_hex() const {
  std::string s;
  s.reserve(32);
  put_hex(s, trace_id);
  return s;
}

std::string SpanContext::span_id_hex() const {
  std::string s;
  s.reserve(16);
  put_hex(s, span_id);
  return s;
}

SpanContext parse_traceparent(std::string_view text, std::string_view tracestate) {
  // version(2)-trace(32)-span(16)-flags(2); a later version may append fields.
  SpanContext c;
  if (text.size() < 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return {};
  if (text.size() > 55 && (text.substr(0, 2) == "00" || text[55] != '-')) return {};
  std::array<std::uint8_t, 1> version{}, flags{};
  if (!read_hex(text.substr(0, 2), version) || version[0] == 0xFF) return {};
  if (!read_hex(text.substr(3, 32), c.trace_id) || !read_hex(text.substr(36, 16), c.span_id) ||
      !read_hex(text.substr(53, 2), flags))
    return {};
  if (!c.valid()) return {};
  c.flags = flags[0];
  c.tracestate = std::string(tracestate);
  return c;
}

std::string format_traceparent(const SpanContext& c) {
  std::string s;
  s.reserve(55);
  s.append("00-");
  put_hex(s, c.trace_id);
  s.push_back('-');
  put_hex(s, c.span_id);
  s.push_back('-');
  s.push_back(hex_digits[c.flags >> 4]);
  s.push_back(hex_digits[c.flags & 0xF]);
  return s;
}

SpanContext child_of(const SpanContext& parent) {
  SpanContext c;
  if (parent.valid()) {
    c.trace_id = parent.trace_id;
    c.flags = parent.flags;
    c.tracestate = parent.tracestate;
  } else {
    do fill_random(c.trace_id);
    while (all_zero(c.trace_id));
  }
  do fill_random(c.span_id);
  while (all_zero(c.span_id));
  return c;
}

SpanContext current() {
  if (current_scope) return *current_scope;
  if (const Envelope* e = current_event()) {
    return parse_traceparent(e->traceparent, e->tracestate);
  }
  return {};
}

Scope::Scope(SpanContext context) noexcept : previous_(current_scope), context_(std::move(context)) {
  current_scope = &context_;
}
Scope::~Scope() { current_scope = previous_; }

Span::~Span() = default;
Tracer::~Tracer() = default;

void set_tracer(std::shared_ptr<Tracer> t) {
  auto& i = installed();
  std::shared_ptr<Tracer> old;
  {
    std::lock_guard lock(i.mutex);
    old = std::exchange(i.tracer, std::move(t));
    i.chosen = true;
    any_tracer.store(i.tracer != nullptr, std::memory_order_release);
  }
  // `old` ends here, outside the lock: an exporter's destructor flushes.
}

std::shared_ptr<Tracer> tracer() {
  if (!any_tracer.load(std::memory_order_acquire)) {
    detail::install_tracer_from_environment();
    if (!any_tracer.load(std::memory_order_acquire)) return nullptr;
  }
  auto& i = installed();
  std::lock_guard lock(i.mutex);
  return i.tracer;
}

namespace detail {

const SpanContext* swap_scope(const SpanContext* context) noexcept { return std::exchange(current_scope, context); }

bool tracing_enabled() noexcept { return any_tracer.load(std::memory_order_relaxed); }

bool has_context() noexcept {
  if (current_scope) return current_scope->valid();
  const Envelope* e = current_event();
  return e && !e->traceparent.empty();
}

bool stamps_trace() noexcept { return tracing_enabled() || has_context(); }

void install_tracer_from_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& i = installed();
    {
      std::lock_guard lock(i.mutex);
      if (i.chosen) return;
    }
    std::shared_ptr<Tracer> t;
    try {
      t = tracer_from_environment();
    } catch (const std::exception&) {
      return;  // a bad endpoint must not stop the service: no tracing
    }
    std::lock_guard lock(i.mutex);
    if (i.chosen || !t) return;
    i.tracer = std::move(t);
    any_tracer.store(true, std::memory_order_release);
  });
}

}  // namespace detail

}  // namespace herald::trace
