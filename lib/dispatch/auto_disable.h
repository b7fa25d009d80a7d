// When a subscription whose deliveries keep failing is disabled: after a
// number of deliveries in a row ended 'failed', or when every attempt has
// failed for a while. Its deliveries are then held, not dropped, and go out
// when it is enabled again. Pure: time is passed in.
#ifndef WEBHOOKS_LIB_DISPATCH_AUTO_DISABLE_H_
#define WEBHOOKS_LIB_DISPATCH_AUTO_DISABLE_H_

#include <vector>

#include "absl/time/time.h"
#include "lib/store/delivery_store.h"

namespace webhooks::dispatch {

struct AutoDisablePolicy {
  // Deliveries ended 'failed' since the last success; 0 turns this rule off.
  int failed_in_a_row = 50;
  // How long every attempt may fail (none succeeding) before the
  // subscription is disabled; zero turns this rule off.
  absl::Duration failing_for = absl::Hours(5 * 24);
};

// The subscriptions of `lanes` (lanes with a failed attempt in a write) that
// `policy` disables at `now`, with a reason for people, and the conditions
// the store re-checks (FailingSubscription).
std::vector<store::FailingSubscription> ToDisable(
    const AutoDisablePolicy& policy,
    const std::vector<store::LaneHealth>& lanes, absl::Time now);

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_AUTO_DISABLE_H_
