#include "lib/dispatch/lease_planner.h"

#include <algorithm>
#include <cstddef>

#include "absl/time/time.h"

namespace webhooks::dispatch {
namespace {

constexpr absl::Duration kInitialErrorBackoff = absl::Milliseconds(100);

}  // namespace

LeasePlanner::LeasePlanner(LeasePlannerOptions options) : options_(options) {}

// Under load, wait until a worthwhile share of a batch is free: leasing one
// row per freed slot would be a query per delivery.
int LeasePlanner::MinLease() const {
  return std::max(1,
                  std::min(options_.lease_batch, options_.max_in_flight) / 2);
}

bool LeasePlanner::HasRoom(int in_flight, size_t pending_writes) const {
  const int free = options_.max_in_flight - in_flight;
  if (free <= 0) return false;
  if (in_flight > 0 && free < MinLease()) return false;
  return pending_writes < options_.max_pending_writes;
}

int LeasePlanner::LeaseSize(absl::Time now, int in_flight,
                            size_t pending_writes) const {
  if (!HasRoom(in_flight, pending_writes)) return 0;
  if (now < backoff_until_) return 0;
  if (!hint_ && now < next_poll_) return 0;
  if (in_flight > 0 && now < gap_until_) return 0;
  return std::min(options_.max_in_flight - in_flight, options_.lease_batch);
}

absl::Time LeasePlanner::NextCheck(absl::Time now, int in_flight,
                                   size_t pending_writes) const {
  if (!HasRoom(in_flight, pending_writes)) return absl::InfiniteFuture();
  absl::Time due =
      std::max(backoff_until_, hint_ ? absl::InfinitePast() : next_poll_);
  if (in_flight > 0) due = std::max(due, gap_until_);
  return std::max(due, now);
}

int LeasePlanner::HandOffLimit(int in_flight, int freed) const {
  if (!last_lease_short_) return 0;
  const int spare = options_.max_in_flight - in_flight - MinLease();
  return std::max(0, std::min(freed, spare));
}

void LeasePlanner::OnLeased(absl::Time now, int requested, int received) {
  last_lease_short_ = received < requested;
  hint_ = received >= requested;
  gap_until_ = hint_ ? absl::InfinitePast() : now + options_.min_lease_gap;
  next_poll_ = now + options_.poll_interval;
  backoff_until_ = absl::InfinitePast();
  error_backoff_ = absl::ZeroDuration();
}

void LeasePlanner::OnLeaseFailed(absl::Time now) {
  error_backoff_ = error_backoff_ == absl::ZeroDuration() ? kInitialErrorBackoff
                                                          : error_backoff_ * 2;
  error_backoff_ = std::min(error_backoff_, options_.max_error_backoff);
  backoff_until_ = now + error_backoff_;
  // What was due is still due: try again as soon as the backoff ends.
  hint_ = true;
}

void LeasePlanner::Hint() { hint_ = true; }

}  // namespace webhooks::dispatch
