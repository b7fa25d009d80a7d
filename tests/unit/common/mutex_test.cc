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

// The state each test shares between its threads, guarded by `mu`.
struct Shared {
  Mutex mu;
  int value ABSL_GUARDED_BY(mu) = 0;
  int waiting ABSL_GUARDED_BY(mu) = 0;  // threads inside their wait
  bool flag ABSL_GUARDED_BY(mu) = false;
  int evaluations_by_waiters ABSL_GUARDED_BY(mu) = 0;
};

// Waits, holding `shared.mu`, until `shared.waiting` reaches `count`.
bool AwaitWaiting(Shared& shared, int count)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
    return shared.waiting >= count;
  };
  return shared.mu.AwaitWithTimeout(&reached, kGenerous);
}

TEST(MutexTest, AwaitReturnsOnceAnotherThreadMakesTheConditionTrue) {
  Shared shared;
  // Nobody signals: releasing the lock is what wakes the waiter. The writer
  // starts once the waiter is waiting, so it is woken, not merely late.
  std::thread writer([&] {
    {
      MutexLock lock(&shared.mu);
      ASSERT_TRUE(AwaitWaiting(shared, 1));
    }
    for (int i = 0; i < 100; ++i) {
      MutexLock lock(&shared.mu);
      ++shared.value;
    }
  });
  {
    MutexLock lock(&shared.mu);
    bool counted = false;
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      if (!counted) ++shared.waiting;
      counted = true;
      return shared.value == 100;
    };
    EXPECT_TRUE(shared.mu.AwaitWithTimeout(&done, kGenerous));
    EXPECT_EQ(shared.value, 100);
  }
  writer.join();
}

TEST(MutexTest, AwaitOnABoolReadsItUnderTheLock) {
  Shared shared;
  std::thread writer([&] {
    MutexLock lock(&shared.mu);
    shared.flag = true;
  });
  {
    MutexLock lock(&shared.mu);
    shared.mu.Await(&shared.flag);
    EXPECT_TRUE(shared.flag);
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

// An infinite or a years-long timeout waits like Await (no overflow turns
// it into an immediate timeout) and still wakes when the condition holds.
TEST(MutexTest, EndlessTimeoutsWaitForTheCondition) {
  for (const absl::Duration timeout :
       {absl::InfiniteDuration(), absl::Hours(24 * 365 * 100)}) {
    Shared shared;
    std::thread writer([&] {
      MutexLock lock(&shared.mu);
      ASSERT_TRUE(AwaitWaiting(shared, 1));
      shared.flag = true;
    });
    {
      MutexLock lock(&shared.mu);
      auto set = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
        shared.waiting = 1;
        return shared.flag;
      };
      EXPECT_TRUE(shared.mu.AwaitWithTimeout(&set, timeout));
    }
    writer.join();
  }
}

// A waiter that changed state under the lock and then waits (without an
// Unlock in between) must still wake the waiters its change satisfies.
TEST(MutexTest, AWaiterThatChangedStateWakesTheOthersItSatisfies) {
  Shared shared;
  std::thread second([&] {
    MutexLock lock(&shared.mu);
    shared.value = 1;
    auto asked = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      return shared.value == 2;
    };
    shared.mu.Await(&asked);
    shared.value = 3;  // answered from inside its own wait
    auto acknowledged = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      return shared.value == 4;
    };
    shared.mu.Await(&acknowledged);
  });
  {
    MutexLock lock(&shared.mu);
    auto started = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      return shared.value == 1;
    };
    ASSERT_TRUE(shared.mu.AwaitWithTimeout(&started, kGenerous));
    shared.value = 2;
    auto answered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      return shared.value == 3;
    };
    EXPECT_TRUE(shared.mu.AwaitWithTimeout(&answered, kGenerous));
    shared.value = 4;
  }
  second.join();
}

// A release of the lock that leaves a waiter's condition false does not
// wake that waiter: the releasing thread evaluates the condition, so the
// waiter's own thread evaluates it once on entry and once when woken.
TEST(MutexTest, OnlyAConditionMadeTrueWakesItsWaiter) {
  Shared shared;
  constexpr int kUnlocks = 1000;
  std::thread waiter([&] {
    const std::thread::id self = std::this_thread::get_id();
    MutexLock lock(&shared.mu);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      if (std::this_thread::get_id() == self) ++shared.evaluations_by_waiters;
      shared.waiting = 1;
      return shared.value == kUnlocks;
    };
    shared.mu.Await(&reached);
  });
  {
    MutexLock lock(&shared.mu);
    ASSERT_TRUE(AwaitWaiting(shared, 1));
  }
  for (int i = 0; i < kUnlocks; ++i) {
    MutexLock lock(&shared.mu);
    ++shared.value;
  }
  waiter.join();
  MutexLock lock(&shared.mu);
  EXPECT_EQ(shared.evaluations_by_waiters, 2);
}

// Four waiters take one token each. Each token added wakes one of them, not
// all of them to find it gone: every waiter's thread evaluates its
// condition once on entry and once when woken, never in vain.
TEST(MutexTest, ATokenWakesOneWaiterAndEveryTokenIsTaken) {
  Shared shared;
  constexpr int kWaiters = 4;
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      const std::thread::id self = std::this_thread::get_id();
      MutexLock lock(&shared.mu);
      bool counted = false;
      auto token = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
        if (std::this_thread::get_id() == self) {
          ++shared.evaluations_by_waiters;
          if (!counted) ++shared.waiting;
          counted = true;
        }
        return shared.value > 0;
      };
      ASSERT_TRUE(shared.mu.AwaitWithTimeout(&token, kGenerous));
      --shared.value;
    });
  }
  {
    MutexLock lock(&shared.mu);
    ASSERT_TRUE(AwaitWaiting(shared, kWaiters));
  }
  // One token at a time, each once the last is taken: a wake-up of all four
  // would have three find nothing.
  for (int i = 0; i < kWaiters; ++i) {
    MutexLock lock(&shared.mu);
    ++shared.value;
    auto taken = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
      return shared.value == 0;
    };
    ASSERT_TRUE(shared.mu.AwaitWithTimeout(&taken, kGenerous));
  }
  for (std::thread& waiter : waiters) waiter.join();
  MutexLock lock(&shared.mu);
  EXPECT_EQ(shared.evaluations_by_waiters, 2 * kWaiters);
}

TEST(MutexTest, ManyWaitersOnDifferentConditionsAllWake) {
  Shared shared;
  constexpr int kWaiters = 8;
  std::vector<std::thread> waiters;
  std::vector<int> woke(kWaiters, 0);  // written under shared.mu
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      MutexLock lock(&shared.mu);
      bool counted = false;
      auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared.mu) {
        if (!counted) ++shared.waiting;
        counted = true;
        return shared.value > i;
      };
      woke[i] = shared.mu.AwaitWithTimeout(&reached, kGenerous) ? 1 : 0;
    });
  }
  {
    MutexLock lock(&shared.mu);
    ASSERT_TRUE(AwaitWaiting(shared, kWaiters));
  }
  for (int i = 0; i < kWaiters; ++i) {
    MutexLock lock(&shared.mu);
    ++shared.value;
  }
  for (std::thread& waiter : waiters) waiter.join();
  for (int i = 0; i < kWaiters; ++i) EXPECT_EQ(woke[i], 1) << "waiter " << i;
}

// The waiter may destroy the mutex as soon as its wait returns and it lets
// go of the lock, while the waking thread is still in its Unlock: the
// wake-up must be sent before the lock is free. Deterministic: the waker
// sets the flag only once the waiter is inside its wait. (A wake-up sent
// after the unlock shows as a use after free under ThreadSanitizer and
// AddressSanitizer.)
TEST(MutexTest, MayBeDestroyedAsSoonAsAWaitReturns) {
  for (int i = 0; i < 100; ++i) {
    auto* shared = new Shared;
    std::thread waiter([shared] {
      {
        MutexLock lock(&shared->mu);
        auto set = [shared]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared->mu) {
          shared->waiting = 1;
          return shared->flag;
        };
        shared->mu.Await(&set);
      }
      delete shared;
    });
    shared->mu.Lock();
    // Returns once the waiter is inside its wait (its entry woke us).
    EXPECT_TRUE(AwaitWaiting(*shared, 1));
    shared->flag = true;
    shared->mu.Unlock();
    waiter.join();
  }
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

// Several threads wait for one notification: all of them return.
TEST(NotificationTest, WakesEveryWaiter) {
  Notification notification;
  constexpr int kWaiters = 6;
  std::vector<std::thread> waiters;
  std::vector<int> woke(kWaiters, 0);  // each written by its own thread
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      woke[i] = notification.WaitForNotificationWithTimeout(kGenerous) ? 1 : 0;
    });
  }
  notification.Notify();
  for (std::thread& waiter : waiters) waiter.join();
  for (int i = 0; i < kWaiters; ++i) EXPECT_EQ(woke[i], 1) << "waiter " << i;
}

}  // namespace
}  // namespace webhooks::common
