#include "herald/ext/handler_gate.hpp"

#include <algorithm>
#include <vector>

namespace herald::ext {

namespace {

// The gates whose passes this thread holds, innermost last. Nesting happens
// when a handler publishes and an inline transport runs the next handler
// right there.
thread_local std::vector<const HandlerGate*> held;

}  // namespace

HandlerGate::Pass::Pass(HandlerGate* gate) noexcept {
  // Counted before looking at open_ (both sequentially consistent): either
  // close() sees this count and waits for it, or this sees the gate closed.
  gate->running_.fetch_add(1);
  if (!gate->open_.load()) {
    gate->leave();
    return;
  }
  try {
    held.push_back(gate);
  } catch (...) {
    // Out of memory for the stack: still counted, only not known as this
    // thread's, so a close() from this very handler would wait for itself.
    // Refused instead.
    gate->leave();
    return;
  }
  gate_ = gate;
}

void HandlerGate::Pass::release() noexcept {
  if (!gate_) return;
  if (!held.empty() && held.back() == gate_) {
    held.pop_back();  // the usual case: passes end in the order they were taken
  } else {
    auto it = std::find(held.rbegin(), held.rend(), gate_);
    if (it != held.rend()) held.erase(std::next(it).base());
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

int HandlerGate::held_here() const noexcept {
  return static_cast<int>(std::count(held.begin(), held.end(), this));
}

bool HandlerGate::inside() const noexcept { return held_here() > 0; }

void HandlerGate::close() {
  open_.store(false);
  const int mine = held_here();
  std::unique_lock lock(mutex_);
  left_.wait(lock, [&] { return running_.load() <= mine; });
}

}  // namespace herald::ext
