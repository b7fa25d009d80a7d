// Retention: deleting what is old enough, in small batches that never hold
// up delivery. First what deleted subscriptions left behind (their lanes and
// every delivery, whatever its age or state; DeleteSubscription only marks
// the lane, and a lane whose subscription is gone otherwise is marked here
// first). Delivered (and discarded) deliveries go after one period,
// failed ones after a longer one, each with its attempts; then events older
// than the first period that no delivery refers to any more (their
// idempotency keys with them: publishing that key again makes a new event).
// Pending deliveries of existing subscriptions, however old, are never
// deleted.
#ifndef WEBHOOKS_LIB_STORE_RETENTION_H_
#define WEBHOOKS_LIB_STORE_RETENTION_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/store/pg_pool.h"

namespace webhooks::store {

struct RetentionPolicy {
  // Deliveries created longer ago than this that ended delivered or
  // discarded, and events created longer ago than this with no delivery left.
  absl::Duration delivered = absl::Hours(30 * 24);
  // Deliveries created longer ago than this that ended failed.
  absl::Duration failed = absl::Hours(90 * 24);
  // Rows per statement, at most (each statement its own transaction).
  int batch = 1000;
};

struct RetentionReport {
  int64_t deliveries = 0;  // with their attempts
  // Deleted subscriptions purged: every delivery, then the lane.
  int64_t subscriptions = 0;
  int64_t events = 0;
  int64_t statements = 0;
};

// One pass over everything expired at `now`. Each subscription's deliveries
// are read through its (subscription_id, created_at) indexes, from the oldest,
// each row at most once per pass; events through their time-ordered ids.
// Stops at `deadline` (DEADLINE_EXCEEDED; what was deleted stays deleted, and
// the next pass goes on). Errors: UNAVAILABLE / RESOURCE_EXHAUSTED as the
// other stores.
absl::StatusOr<RetentionReport> DeleteExpired(PgPool& pool,
                                              const RetentionPolicy& policy,
                                              absl::Time now,
                                              absl::Time deadline);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_RETENTION_H_
