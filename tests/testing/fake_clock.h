// A common::Clock for tests whose time moves only when the test moves it.
#ifndef WEBHOOKS_TESTS_TESTING_FAKE_CLOCK_H_
#define WEBHOOKS_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/common/mutex.h"

namespace webhooks::testing {

// Thread-safe. Now() changes only through SetTime and AdvanceTime.
class FakeClock : public common::Clock {
 public:
  // 2026-11-26T14:00:00Z by default: a fixed, realistic instant.
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1795701600))
      : now_(start) {}

  absl::Time Now() const override {
    common::MutexLock lock(&mu_);
    return now_;
  }
  void SetTime(absl::Time now) {
    common::MutexLock lock(&mu_);
    now_ = now;
  }
  void AdvanceTime(absl::Duration by) {
    common::MutexLock lock(&mu_);
    now_ += by;
  }

 private:
  mutable common::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_FAKE_CLOCK_H_
