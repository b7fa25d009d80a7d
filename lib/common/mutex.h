// The project's lock, condition wait and one-shot event: absl::Mutex's
// interface (conditions are re-checked whenever the lock is released, so no
// state change needs a matching Signal, and only a waiter whose condition
// became true wakes) over std::mutex and std::condition_variable.
//
// Why not absl::Mutex itself: Debian's abseil is not built with
// ThreadSanitizer, and absl::Mutex synchronises through its own futex code,
// which TSan then cannot see; every hand-off through it reads as a data race.
// std::mutex is pthread's, which TSan intercepts, so scripts/tsan.sh checks
// the worker, transport and pool for races through these locks.
#ifndef WEBHOOKS_LIB_COMMON_MUTEX_H_
#define WEBHOOKS_LIB_COMMON_MUTEX_H_

#include <condition_variable>
#include <mutex>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace webhooks::common {

// A non-recursive exclusive lock. Thread-safe, as a lock is.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  // Wakes a waiter whose condition the holder made true (see Wake).
  void Unlock() ABSL_UNLOCK_FUNCTION();

  // With the lock held: releases it until the condition, evaluated with the
  // lock held, is true, and returns holding it again. `condition` points to
  // a bool or to a callable returning bool (a lambda, as with absl::Mutex).
  template <typename Condition>
  void Await(const Condition* condition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

  // As Await, but gives up at `deadline` (or after `timeout`); returns the
  // condition's value at return. An infinite deadline waits as Await does.
  template <typename Condition>
  bool AwaitWithDeadline(const Condition* condition, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);
  template <typename Condition>
  bool AwaitWithTimeout(const Condition* condition, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return AwaitWithDeadline(condition, absl::Now() + timeout);
  }

 private:
  // A thread in Await: its condition, and its own wake-up. Lives on the
  // waiting thread's stack, linked into the queue while it waits.
  struct Waiter {
    Waiter(bool (*holds_condition)(const void*), const void* waited_for)
        : holds(holds_condition), condition(waited_for) {}
    bool (*holds)(const void* condition);
    const void* condition;
    std::condition_variable wake;
    bool woken = false;
    Waiter* prev = nullptr;  // toward the oldest
    Waiter* next = nullptr;  // toward the newest
  };

  template <typename Condition>
  static bool HoldsErased(const void* condition);

  // Waits until a Wake() finds the condition true, or the deadline passes.
  void Wait(Waiter* waiter, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);
  // Wakes the oldest waiter whose condition (evaluated here, with the lock
  // held, as conditions require) is now true, and no other: a state change
  // that satisfies no one wakes no one, and one that satisfies many wakes
  // them one after another, each passing the turn on when it releases the
  // lock or waits again. Nothing is woken while a woken waiter has yet to
  // run: it will pass the turn on itself. `self`, a waiter its own thread
  // just found false, is passed over.
  void Wake(const Waiter* self = nullptr) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this);

  std::mutex mu_;
  Waiter* oldest_ ABSL_GUARDED_BY(this) = nullptr;
  Waiter* newest_ ABSL_GUARDED_BY(this) = nullptr;
  bool woken_pending_ ABSL_GUARDED_BY(this) = false;
};

// Holds a Mutex for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }

 private:
  Mutex* const mu_;
};

// A one-shot event: Notify() once, wait for it from any number of threads.
// Thread-safe.
class Notification {
 public:
  void Notify();
  bool HasBeenNotified() const;
  void WaitForNotification() const;
  // Whether it was notified within `timeout`.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const;

 private:
  mutable Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

namespace mutex_internal {
template <typename Condition>
bool Holds(const Condition* condition) {
  if constexpr (std::is_same_v<Condition, bool>) {
    return *condition;
  } else {
    return (*condition)();
  }
}
}  // namespace mutex_internal

template <typename Condition>
bool Mutex::HoldsErased(const void* condition) {
  return mutex_internal::Holds(static_cast<const Condition*>(condition));
}

template <typename Condition>
void Mutex::Await(const Condition* condition) {
  AwaitWithDeadline(condition, absl::InfiniteFuture());
}

template <typename Condition>
bool Mutex::AwaitWithDeadline(const Condition* condition, absl::Time deadline) {
  while (!mutex_internal::Holds(condition)) {
    if (absl::Now() >= deadline) return false;
    Waiter waiter(&HoldsErased<Condition>, condition);
    Wait(&waiter, deadline);
  }
  return true;
}

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_MUTEX_H_
