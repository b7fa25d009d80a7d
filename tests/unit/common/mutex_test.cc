#include "lib/common/mutex.h"

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace webhooks::common {
namespace {

// Long enough never to expire on a loaded machine when the code is right;
// a failure then costs this much instead of a hung test.
constexpr absl::Duration kGenerous = absl::Seconds(30);

TEST(MutexTest, AwaitReturnsOnceAnotherThreadMakesTheConditionTrue) {
  Mutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
  // Nobody signals: releasing the lock is what wakes the waiter.
  std::thread writer([&] {
    for (int i = 0; i < 100; ++i) {
      MutexLock lock(&mu);
      ++value;
    }
  });
  {
    MutexLock lock(&mu);
    auto done = [&]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return value == 100; };
    EXPECT_TRUE(mu.AwaitWithTimeout(&done, kGenerous));
    EXPECT_EQ(value, 100);
  }
  writer.join();
}

TEST(MutexTest, AwaitOnABoolReadsItUnderTheLock) {
  Mutex mu;
  bool ready ABSL_GUARDED_BY(mu) = false;
  std::thread writer([&] {
    MutexLock lock(&mu);
    ready = true;
  });
  {
    MutexLock lock(&mu);
    mu.Await(&ready);
    EXPECT_TRUE(ready);
  }
  writer.join();
}

TEST(MutexTest, AwaitWithTimeoutGivesUpAfterTheTimeoutWithTheConditionFalse) {
  Mutex mu;
  const bool never = false;
  MutexLock lock(&mu);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(mu.AwaitWithTimeout(&never, absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST(MutexTest, AwaitWithAPassedDeadlineReturnsTheConditionAtOnce) {
  Mutex mu;
  const bool yes = true;
  const bool no = false;
  MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithDeadline(&yes, absl::InfinitePast()));
  EXPECT_FALSE(mu.AwaitWithDeadline(&no, absl::InfinitePast()));
  EXPECT_FALSE(mu.AwaitWithDeadline(&no, absl::Now() - absl::Seconds(1)));
}

// A waiter that changed state under the lock and then waits (without an
// Unlock in between) must still wake the waiters its change satisfies.
TEST(MutexTest, AWaiterThatChangedStateWakesTheOthersItSatisfies) {
  Mutex mu;
  int stage ABSL_GUARDED_BY(mu) = 0;
  std::thread second([&] {
    MutexLock lock(&mu);
    stage = 1;
    auto asked = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stage == 2; };
    mu.Await(&asked);
    stage = 3;  // answered from inside its own wait
    auto acknowledged = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return stage == 4;
    };
    mu.Await(&acknowledged);
  });
  {
    MutexLock lock(&mu);
    auto started = [&]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stage == 1; };
    ASSERT_TRUE(mu.AwaitWithTimeout(&started, kGenerous));
    stage = 2;
    auto answered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return stage == 3;
    };
    EXPECT_TRUE(mu.AwaitWithTimeout(&answered, kGenerous));
    stage = 4;
  }
  second.join();
}

// A release of the lock that leaves a waiter's condition false does not
// wake that waiter: the releasing thread evaluates the condition, so the
// waiter's own thread evaluates it once on entry and once when woken.
TEST(MutexTest, OnlyAConditionMadeTrueWakesItsWaiter) {
  Mutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
  bool waiting ABSL_GUARDED_BY(mu) = false;
  int evaluations_by_waiter ABSL_GUARDED_BY(mu) = 0;
  constexpr int kUnlocks = 1000;
  std::thread waiter([&] {
    const std::thread::id self = std::this_thread::get_id();
    MutexLock lock(&mu);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (std::this_thread::get_id() == self) ++evaluations_by_waiter;
      waiting = true;
      return value == kUnlocks;
    };
    mu.Await(&reached);
  });
  {
    MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(&waiting, kGenerous));
  }
  for (int i = 0; i < kUnlocks; ++i) {
    MutexLock lock(&mu);
    ++value;
  }
  waiter.join();
  MutexLock lock(&mu);
  EXPECT_EQ(evaluations_by_waiter, 2);
}

TEST(MutexTest, ManyWaitersOnDifferentConditionsAllWake) {
  Mutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
  constexpr int kWaiters = 8;
  std::vector<std::thread> waiters;
  std::vector<bool> woke(kWaiters, false);
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      MutexLock lock(&mu);
      auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return value > i;
      };
      woke[i] = mu.AwaitWithTimeout(&reached, kGenerous);
    });
  }
  for (int i = 0; i < kWaiters; ++i) {
    MutexLock lock(&mu);
    ++value;
  }
  for (std::thread& waiter : waiters) waiter.join();
  for (int i = 0; i < kWaiters; ++i) EXPECT_TRUE(woke[i]) << "waiter " << i;
}

TEST(NotificationTest, WaitsUntilNotifiedFromAnotherThread) {
  Notification notification;
  EXPECT_FALSE(notification.HasBeenNotified());
  EXPECT_FALSE(
      notification.WaitForNotificationWithTimeout(absl::Milliseconds(1)));
  std::thread notifier([&] { notification.Notify(); });
  EXPECT_TRUE(notification.WaitForNotificationWithTimeout(kGenerous));
  notifier.join();
  EXPECT_TRUE(notification.HasBeenNotified());
  notification.WaitForNotification();  // returns at once once notified
}

// The waiter may delete the notification as soon as its wait returns, while
// the notifying thread is still inside Notify(): Notify must not touch the
// object once a waiter can see it notified. (Under ThreadSanitizer, a wake-up
// sent after the unlock shows here as a use after free.)
TEST(NotificationTest, MayBeDestroyedAsSoonAsTheWaitReturns) {
  for (int i = 0; i < 200; ++i) {
    auto* notification = new Notification;
    std::thread waiter([notification] {
      notification->WaitForNotification();
      delete notification;
    });
    notification->Notify();
    waiter.join();
  }
}

}  // namespace
}  // namespace webhooks::common
