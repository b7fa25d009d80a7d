#include "lib/common/mutex.h"

#include <algorithm>
#include <chrono>

namespace webhooks::common {

void Mutex::Unlock() {
  // Before the unlock, not after: once the lock is free, a woken waiter may
  // destroy this object (a Notification on its stack), and a wake-up sent
  // then would touch freed memory.
  if (waiters_ > 0) cv_.notify_all();
  mu_.unlock();
}

void Mutex::WaitOnce(bool entering, absl::Time deadline) {
  if (entering && waiters_ > 0) cv_.notify_all();
  ++waiters_;
  // The lock is held by the caller (Lock() or a MutexLock), not by this
  // unique_lock, which only lends it to the condition variable.
  std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
  if (deadline == absl::InfiniteFuture()) {
    cv_.wait(lock);
  } else {
    // A relative wait runs on the steady clock: a step of the wall clock
    // neither shortens nor stretches it. Capped, because a wait that long
    // would overflow the steady clock's time point; the caller loops.
    const absl::Duration remaining = std::clamp(
        deadline - absl::Now(), absl::ZeroDuration(), absl::Hours(24));
    cv_.wait_for(lock, absl::ToChronoNanoseconds(remaining));
  }
  lock.release();
  --waiters_;
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
