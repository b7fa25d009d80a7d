#include "lib/store/delivery_waker.h"

#include <memory>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "lib/common/mutex.h"

namespace webhooks::store {
namespace {

// Stands in for the database: counts notifications, and holds each one until
// the test lets it finish.
class FakeNotify {
 public:
  absl::Status Notify() {
    common::MutexLock lock(&mu_);
    ++started_;
    auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return released_ >= started_;
    };
    mu_.Await(&released);
    return started_ == fail_at_ ? absl::UnavailableError("gone")
                                : absl::OkStatus();
  }

  // Lets every notification up to the n-th finish.
  void Release(int n) {
    common::MutexLock lock(&mu_);
    released_ = n;
  }
  void FailAt(int n) {
    common::MutexLock lock(&mu_);
    fail_at_ = n;
  }
  // Until n notifications have started (false after 10 s).
  bool AwaitStarted(int n) {
    common::MutexLock lock(&mu_);
    auto started = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return started_ >= n;
    };
    return mu_.AwaitWithTimeout(&started, absl::Seconds(10));
  }
  int started() const {
    common::MutexLock lock(&mu_);
    return started_;
  }

 private:
  mutable common::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int released_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_at_ ABSL_GUARDED_BY(mu_) = 0;
};

// A waker whose notifications are all let through before it is destroyed,
// so that a failed assertion cannot leave its thread (and the test) hanging.
class Waker {
 public:
  explicit Waker(FakeNotify& fake)
      : fake_(fake), waker_(std::make_unique<DeliveryWaker>([&fake] {
          return fake.Notify();
        })) {}
  ~Waker() { reset(); }
  DeliveryWaker* operator->() { return waker_.get(); }
  void reset() {
    fake_.Release(1 << 30);
    waker_.reset();
  }

 private:
  FakeNotify& fake_;
  std::unique_ptr<DeliveryWaker> waker_;
};

TEST(DeliveryWakerTest, NothingIsSentWithoutAWake) {
  FakeNotify fake;
  fake.Release(100);
  Waker(fake).reset();  // joins its thread
  EXPECT_EQ(fake.started(), 0);
}

TEST(DeliveryWakerTest, EachWakeAfterASendSendsAgain) {
  FakeNotify fake;
  fake.Release(100);
  Waker waker(fake);
  for (int n = 1; n <= 3; ++n) {
    waker->Wake();
    ASSERT_TRUE(fake.AwaitStarted(n));
  }
  waker.reset();
  EXPECT_EQ(fake.started(), 3);
}

// Publishes that commit while a notification is on its way may come too late
// for it: they get one more, all of them together.
TEST(DeliveryWakerTest, WakesDuringASendAreCoalescedIntoOneMore) {
  FakeNotify fake;
  Waker waker(fake);
  waker->Wake();
  ASSERT_TRUE(fake.AwaitStarted(1));
  for (int i = 0; i < 100; ++i) waker->Wake();
  fake.Release(1);
  ASSERT_TRUE(fake.AwaitStarted(2));
  fake.Release(2);
  waker.reset();
  EXPECT_EQ(fake.started(), 2);
}

TEST(DeliveryWakerTest, AFailedNotificationIsCountedAndTheNextOneGoesOut) {
  FakeNotify fake;
  fake.FailAt(1);
  fake.Release(100);
  Waker waker(fake);
  waker->Wake();
  ASSERT_TRUE(fake.AwaitStarted(1));
  waker->Wake();
  ASSERT_TRUE(fake.AwaitStarted(2));
  // The first has finished, or the second would not have started.
  EXPECT_EQ(waker->failed(), 1);
  EXPECT_GE(waker->sent(), 1);
  waker.reset();
  EXPECT_EQ(fake.started(), 2);
}

}  // namespace
}  // namespace webhooks::store
