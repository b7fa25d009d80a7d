#include "lib/common/mutex.h"

#include <algorithm>
#include <chrono>

namespace webhooks::common {

void Mutex::Unlock() {
  // Before the unlock, not after: once the lock is free, a woken waiter may
  // destroy this object (a Notification on its stack), and a wake-up sent
  // then would touch freed memory.
  if (waiters_ != nullptr) Wake();
  mu_.unlock();
}

void Mutex::Wake(const Waiter* self) {
  for (Waiter* waiter = waiters_; waiter != nullptr; waiter = waiter->next) {
    if (waiter != self && !waiter->woken && waiter->holds(waiter->condition)) {
      waiter->woken = true;
      waiter->wake.notify_one();
    }
  }
}

void Mutex::Wait(Waiter* waiter, absl::Time deadline) {
  waiter->next = waiters_;
  if (waiters_ != nullptr) waiters_->prev = waiter;
  waiters_ = waiter;
  // The caller may have changed state under the lock before waiting: that
  // is an unlock too, for the others.
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
    // A relative wait runs on the steady clock: a step of the wall clock
    // neither shortens nor stretches it. Capped, because a wait that long
    // would overflow the steady clock's time point; the caller loops.
    const absl::Duration remaining = std::clamp(
        deadline - absl::Now(), absl::ZeroDuration(), absl::Hours(24));
    waiter->wake.wait_for(lock, absl::ToChronoNanoseconds(remaining), woken);
  }
  lock.release();

  if (waiter->prev != nullptr) {
    waiter->prev->next = waiter->next;
  } else {
    waiters_ = waiter->next;
  }
  if (waiter->next != nullptr) waiter->next->prev = waiter->prev;
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
