#include "lib/dispatch/auto_disable.h"

#include "absl/strings/str_cat.h"

namespace webhooks::dispatch {

std::vector<store::FailingSubscription> ToDisable(
    const AutoDisablePolicy& policy,
    const std::vector<store::LaneHealth>& lanes, absl::Time now) {
  std::vector<store::FailingSubscription> out;
  const bool by_count = policy.failed_in_a_row > 0;
  const bool by_time = policy.failing_for > absl::ZeroDuration();
  const absl::Time cutoff = now - policy.failing_for;
  for (const store::LaneHealth& lane : lanes) {
    store::FailingSubscription f;
    f.subscription_id = lane.subscription_id;
    if (by_count && lane.failed_in_a_row >= policy.failed_in_a_row) {
      f.reason = absl::StrCat("disabled automatically: ", lane.failed_in_a_row,
                              " deliveries in a row failed");
    } else if (by_time && lane.failing_since != absl::InfinitePast() &&
               lane.failing_since <= cutoff) {
      f.reason = absl::StrCat(
          "disabled automatically: every attempt has failed since ",
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", lane.failing_since,
                           absl::UTCTimeZone()),
          " (", absl::FormatDuration(policy.failing_for), " or more)");
    } else {
      continue;
    }
    if (by_count) f.min_failed_in_a_row = policy.failed_in_a_row;
    if (by_time) f.failing_before = cutoff;
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace webhooks::dispatch
