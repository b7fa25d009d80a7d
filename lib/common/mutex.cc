#include "lib/common/mutex.h"

#include <algorithm>
#include <chrono>

namespace webhooks::common {

void Mutex::Unlock() {
  // Before the unlock, not after: once the lock is free, a woken waiter may
  // destroy this object (a Notification on its stack), and a wake-up sent
  // then would touch freed memory.
  if (oldest_ != nullptr) Wake();
  mu_.unlock();
}

void Mutex::Wake(const Waiter* self) {
  if (woken_pending_) return;
  for (Waiter* waiter = oldest_; waiter != nullptr; waiter = waiter->next) {
    if (waiter != self && waiter->holds(waiter->condition)) {
      waiter->woken = true;
      woken_pending_ = true;
      waiter->wake.notify_one();
      return;
    }
  }
}

void Mutex::Wait(Waiter* waiter, absl::Time deadline) {
  waiter->prev = newest_;
  if (newest_ != nullptr) {
    newest_->next = waiter;
  } else {
    oldest_ = waiter;
  }
  newest_ = waiter;
  // The caller may have changed state under the lock before waiting: that
  // releases the lock too, for the others.
  Wake(waiter);

  // The lock is held by the caller (Lock() or a MutexLock), not by this
  // unique_lock, which only lends it to the condition variable.
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  const auto woken = [waiter]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return waiter->woken;
  };
  if (deadline == absl::InfiniteFuture()) {
    waiter->wake.wait(lock, woken);
  } else {
    // Each wait is relative, on the steady clock; the caller re-checks the
    // deadline against absl::Now() and waits again if it is not yet due.
    // Capped, because a wait that long would overflow the steady clock's
    // time point.
    const absl::Duration remaining = std::clamp(
        deadline - absl::Now(), absl::ZeroDuration(), absl::Hours(24));
    waiter->wake.wait_for(lock, absl::ToChronoNanoseconds(remaining), woken);
  }
  lock.release();

  if (waiter->woken) woken_pending_ = false;
  (waiter->prev != nullptr ? waiter->prev->next : oldest_) = waiter->next;
  (waiter->next != nullptr ? waiter->next->prev : newest_) = waiter->prev;
}

void Notification::Notify() {
  MutexLock lock(&mu_);
  notified_ = true;
}

bool Notification::HasBeenNotified() const {
  MutexLock lock(&mu_);
  return notified_;
}

void Notification::WaitForNotification() const {
  MutexLock lock(&mu_);
  mu_.Await(&notified_);
}

bool Notification::WaitForNotificationWithTimeout(
    absl::Duration timeout) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(&notified_, timeout);
}

}  // namespace webhooks::common
