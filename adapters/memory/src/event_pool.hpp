#pragma once
// Recycles the envelopes the memory transport copies for asynchronous
// delivery. The publisher allocates and a worker frees: with glibc's malloc
// that cross-thread free contends for the publisher's arena lock on every
// event. Recycled envelopes are assigned over, so their strings keep their
// capacity; their shared_ptr control blocks come from a free list too. Each
// thread moves envelopes and blocks to and from the shared lists in batches,
// so the pool's lock is taken once per batch, not per event.
//
// There is one pool per process, never destroyed (EventPool::shared()). A
// pool per bus had to be kept alive by every event it lent (an event can
// outlive its bus in a scheduler's callback): a shared_ptr in each control
// block's allocator, whose count the publisher raised and the worker
// lowered, three to four times per event, on one cache line both threads
// wrote. A pool that never dies needs no count.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "herald/envelope.hpp"

namespace herald::memory {

class EventPool {
 public:
  /// The process's pool. Never destroyed: threads give their stashes back
  /// when they end, which may be after static destructors have run.
  static EventPool& shared() {
    static EventPool* const pool = new EventPool;
    return *pool;
  }

  /// A shared copy of `source` (moved from when `movable`).
  std::shared_ptr<const Envelope> copy(Envelope& source, bool movable) {
    Stash& stash = this_thread();
    if (stash.envelopes.empty()) refill(stash.envelopes, envelopes_);
    std::unique_ptr<Envelope> e;
    if (!stash.envelopes.empty()) {
      e = std::move(stash.envelopes.back());
      stash.envelopes.pop_back();
    } else {
      e = std::make_unique<Envelope>();
    }
    if (movable) *e = std::move(source);
    else *e = source;
    return std::shared_ptr<const Envelope>(e.release(), Recycle{}, BlockAllocator<Envelope>{});
  }

 private:
  EventPool() = default;  // shared() is the only one: a thread's stash belongs to it

  static constexpr std::size_t batch = 32;
  static constexpr std::size_t max_kept = 4096;

  // What one thread took from or gave back to the pool, not yet moved;
  // given back when the thread ends.
  struct Stash {
    std::vector<std::unique_ptr<Envelope>> envelopes;
    std::vector<void*> blocks;
    ~Stash() {
      EventPool& pool = shared();
      std::lock_guard lock(pool.mutex_);
      for (auto& e : envelopes)
        if (pool.envelopes_.size() < max_kept) pool.envelopes_.push_back(std::move(e));
      for (void* b : blocks) {
        if (pool.blocks_.size() < max_kept) pool.blocks_.push_back(b);
        else ::operator delete(b);
      }
    }
  };

  static Stash& this_thread() {
    thread_local Stash stash;
    return stash;
  }

  template <class T>
  void refill(std::vector<T>& local, std::vector<T>& shared) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < batch && !shared.empty(); ++i) {
      local.push_back(std::move(shared.back()));
      shared.pop_back();
    }
  }

  template <class T>
  void spill(std::vector<T>& local, std::vector<T>& shared) {
    if (local.size() < 2 * batch) return;
    std::lock_guard lock(mutex_);
    while (local.size() > batch) {
      if (shared.size() < max_kept) shared.push_back(std::move(local.back()));
      else if constexpr (std::is_same_v<T, void*>) ::operator delete(local.back());
      local.pop_back();
    }
  }

  struct Recycle {
    void operator()(const Envelope* e) const {
      Stash& stash = this_thread();
      stash.envelopes.emplace_back(const_cast<Envelope*>(e));
      EventPool& pool = shared();
      pool.spill(stash.envelopes, pool.envelopes_);
    }
  };

  // Control blocks of one kind all have one size: keep freed ones.
  template <class T>
  struct BlockAllocator {
    using value_type = T;
    BlockAllocator() = default;
    template <class U>
    BlockAllocator(const BlockAllocator<U>&) {}
    T* allocate(std::size_t n) {
      std::size_t bytes = n * sizeof(T);
      EventPool& pool = shared();
      if (bytes == pool.block_size_.load(std::memory_order_relaxed)) {
        Stash& stash = this_thread();
        if (stash.blocks.empty()) pool.refill(stash.blocks, pool.blocks_);
        if (!stash.blocks.empty()) {
          void* b = stash.blocks.back();
          stash.blocks.pop_back();
          return static_cast<T*>(b);
        }
      }
      return static_cast<T*>(::operator new(bytes));
    }
    void deallocate(T* p, std::size_t n) {
      std::size_t bytes = n * sizeof(T);
      EventPool& pool = shared();
      std::size_t expected = 0;
      pool.block_size_.compare_exchange_strong(expected, bytes);  // the first size seen is the one kept
      if (bytes != pool.block_size_.load()) {
        ::operator delete(p);
        return;
      }
      Stash& stash = this_thread();
      stash.blocks.push_back(p);
      pool.spill(stash.blocks, pool.blocks_);
    }
    template <class U>
    bool operator==(const BlockAllocator<U>&) const { return true; }  // one pool
  };

  std::mutex mutex_;
  std::vector<std::unique_ptr<Envelope>> envelopes_;
  std::vector<void*> blocks_;
  std::atomic<std::size_t> block_size_{0};
};

}  // namespace herald::memory
