#include "herald/ext/handler_gate.hpp"

#include <algorithm>

namespace herald::ext {

namespace {

// The gates whose passes this thread holds, innermost last. Nesting happens
// when a handler publishes and an inline transport runs the next handler
// right there. A plain array: a thread_local std::vector costs an init check
// on every access, and this is on every handler run.
constexpr int max_depth = 64;
thread_local const HandlerGate* held[max_depth];
thread_local int depth = 0;

}  // namespace

HandlerGate::Pass::Pass(HandlerGate* gate) noexcept {
  // Counted before looking at open_ (both sequentially consistent): either
  // close() sees this count and waits for it, or this sees the gate closed.
  gate->running_.fetch_add(1);
  if (!gate->open_.load() || depth == max_depth) {
    // Closed. Or nested deeper than any real inline chain, where the pass
    // could not be known as this thread's and a close() from inside it
    // would wait for itself: refused too.
    gate->leave();
    return;
  }
  held[depth++] = gate;
  gate_ = gate;
}

void HandlerGate::Pass::release() noexcept {
  if (!gate_) return;
  // Usually the innermost (passes end in the order they were taken).
  for (int i = depth - 1; i >= 0; --i) {
    if (held[i] != gate_) continue;
    std::copy(held + i + 1, held + depth, held + i);
    --depth;
    break;
  }
  gate_->leave();
  gate_ = nullptr;
}

void HandlerGate::leave() noexcept {
  running_.fetch_sub(1);
  if (open_.load()) return;
  // A closer may be waiting; it checks the count under the mutex.
  std::lock_guard lock(mutex_);
  left_.notify_all();
}

int HandlerGate::held_here() const noexcept { return static_cast<int>(std::count(held, held + depth, this)); }

bool HandlerGate::inside() const noexcept { return held_here() > 0; }

void HandlerGate::close() {
  open_.store(false);
  const int mine = held_here();
  std::unique_lock lock(mutex_);
  left_.wait(lock, [&] { return running_.load() <= mine; });
}

}  // namespace herald::ext
