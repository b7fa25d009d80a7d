// An injectable source of the current time, so that code depending on time
// (backoff, lease expiry, id generation) is tested exactly, without sleeping.
#ifndef WEBHOOKS_LIB_COMMON_CLOCK_H_
#define WEBHOOKS_LIB_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace webhooks::common {

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe.
  virtual absl::Time Now() const = 0;

  // The process-wide wall clock. Never null; never deleted.
  static Clock* Real();
};

}  // namespace webhooks::common

#endif  // WEBHOOKS_LIB_COMMON_CLOCK_H_
