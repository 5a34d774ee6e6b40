#pragma once
// For transport authors: what makes Subscription::cancel() safe. Each
// subscription has a gate; every handler run passes through it, and
// cancelling closes it: no handler starts after that, and close() returns
// once the handlers already inside have returned — except those running on
// the calling thread, so a handler cancelling its own subscription (or one
// whose handler is further up this thread's stack, as memory's inline
// dispatch nests them) returns instead of waiting for itself.
//
// \code
//   if (auto pass = member.gate.enter()) {   // on a worker thread
//     Attempt result = member.invoke(event);
//   } else {
//     // cancelled meanwhile: choose another member, or leave the event unsettled
//   }
//   ...
//   member.gate.close();                       // in the Subscription's cancel()
// \endcode
//
// enter() and a pass's release are lock-free (two atomic operations each, a
// mutex only once the gate is closed); close() blocks. All thread-safe. The
// gate must outlive its passes: keep what holds it (the subscription's
// state) alive by shared_ptr wherever a handler runs.

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace herald::ext {

class HandlerGate {
 public:
  /// A handler counted as inside the gate for as long as this lives. Empty
  /// (false) when the gate was closed. Movable, but released on the thread
  /// that took it.
  class Pass {
   public:
    Pass() noexcept = default;
    Pass(Pass&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Pass& operator=(Pass&& other) noexcept {
      if (this != &other) {
        release();
        gate_ = other.gate_;
        other.gate_ = nullptr;
      }
      return *this;
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass() { release(); }

    explicit operator bool() const noexcept { return gate_ != nullptr; }
    /// Leaves the gate now (the handler returned; what follows need not be waited for).
    void release() noexcept;

   private:
    friend class HandlerGate;
    explicit Pass(HandlerGate* gate) noexcept;
    HandlerGate* gate_ = nullptr;
  };

  HandlerGate() = default;
  HandlerGate(const HandlerGate&) = delete;
  HandlerGate& operator=(const HandlerGate&) = delete;

  /// Lets a handler in: a live pass, or an empty one once closed (or, never
  /// in practice, when 64 handlers are nested on this thread already). Take it
  /// before running the handler and keep it until the handler returned.
  /// Guaranteed: either close() sees this pass and waits for it, or this
  /// pass is empty.
  [[nodiscard]] Pass enter() noexcept { return Pass(this); }

  /// Closes the gate (idempotent) and waits until every pass taken on other
  /// threads is released. Passes held by the calling thread are not waited
  /// for. Must not be called while holding a lock a handler may need.
  void close();

  /// Closes without waiting (a gate that reopens never exists: a new subscription gets a new gate).
  void shut() noexcept { open_.store(false); }

  bool is_open() const noexcept { return open_.load(); }
  /// Whether the calling thread holds a pass of this gate (runs a handler behind it).
  bool inside() const noexcept;
  /// Passes held now, on every thread.
  int running() const noexcept { return running_.load(); }

 private:
  void leave() noexcept;
  int held_here() const noexcept;

  std::atomic<int> running_{0};
  std::atomic<bool> open_{true};
  std::mutex mutex_;  // only for close() to wait
  std::condition_variable left_;
};

}  // namespace herald::ext
