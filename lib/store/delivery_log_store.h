// Reading deliveries and their attempts, and the operators' actions on them
// (retry, recover a window of failures, discard held deliveries), for the
// API's DeliveryService. The worker's side is DeliveryStore.
#ifndef WEBHOOKS_LIB_STORE_DELIVERY_LOG_STORE_H_
#define WEBHOOKS_LIB_STORE_DELIVERY_LOG_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::store {

// What a delivery is now. kPending, kInFlight and kHeld are the stored state
// 'pending' told apart: leased (a worker is attempting it), of a disabled
// subscription (held), or neither.
enum class DeliveryState {
  kPending,
  kInFlight,
  kHeld,
  kDelivered,
  kFailed,
  kDiscarded,
};

struct AttemptRecord {
  int number = 0;  // 1-based within its attempt budget
  absl::Time started_at;
  absl::Duration duration;
  int http_status = 0;  // 0: no response
  std::string error_class;
  std::string response_excerpt;  // raw bytes, at most 4 KiB
};

struct DeliveryRecord {
  int64_t id = 0;
  std::string tenant_id;
  std::string event_id;
  std::string event_type;
  std::string subscription_id;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;  // made in the current budget
  absl::Time next_attempt_at;
  int last_status = 0;  // 0: none
  std::string last_error_class;
  absl::Time created_at;
  std::optional<absl::Time> completed_at;
  // Get only, oldest first.
  std::vector<AttemptRecord> attempt_log;
};

// A subscription's health, for operators (GetSubscriptionStats).
struct SubscriptionStatsRecord {
  bool enabled = true;
  std::string disabled_reason;
  // Open deliveries, all of them; each counted up to kStatsCountCap (the cap
  // then means at least that many). pending and held are the same rows told
  // apart by whether the subscription is enabled.
  int64_t pending = 0;
  int64_t in_flight = 0;
  int64_t held = 0;
  // Deliveries created in the last 24 hours by how they ended, over at most
  // the newest kStatsCountCap of them (capped_24h then).
  int64_t delivered_24h = 0;
  int64_t failed_24h = 0;
  int64_t discarded_24h = 0;
  bool capped_24h = false;
  // Of the last attempt that succeeded and of the last that failed.
  std::optional<absl::Time> last_success_at;
  std::optional<absl::Time> last_failure_at;
  // Deliveries ended 'failed' since the last one delivered, and since when
  // every attempt has failed (as auto-disable counts them).
  int failed_in_a_row = 0;
  std::optional<absl::Time> failing_since;
};
inline constexpr int64_t kStatsCountCap = 100000;

// Every filter is optional; set ones must all hold.
struct DeliveryQuery {
  std::string tenant_id;
  std::string subscription_id;
  std::string event_id;
  std::optional<DeliveryState> state;
  std::string event_type;
  // created_at in [created_after, created_before).
  absl::Time created_after = absl::InfinitePast();
  absl::Time created_before = absl::InfiniteFuture();
  // Keyset position: only deliveries strictly older than (created_at, id).
  std::optional<std::pair<absl::Time, int64_t>> before;
  int limit = 50;
};

// All methods are thread-safe; `deadline` bounds the wait for a connection.
// Errors: NOT_FOUND for a delivery or subscription not of this tenant;
// FAILED_PRECONDITION as documented per method; RESOURCE_EXHAUSTED or
// UNAVAILABLE when the database is busy or unreachable.
class DeliveryLogStore {
 public:
  virtual ~DeliveryLogStore() = default;

  // Newest first: by created_at, then id, both descending. Reads each
  // subscription's deliveries through its index on (subscription_id,
  // created_at), at most `limit` rows from each of the tenant's
  // subscriptions, so a page costs the same however long the history is.
  virtual absl::StatusOr<std::vector<DeliveryRecord>> List(
      const DeliveryQuery& query, absl::Time deadline) = 0;

  // With every attempt, oldest first.
  virtual absl::StatusOr<DeliveryRecord> Get(absl::string_view tenant_id,
                                             int64_t id,
                                             absl::Time deadline) = 0;

  // Makes a failed or discarded delivery, or a pending one that no worker
  // holds, due now with a new attempt budget (attempts back to 0; the
  // attempts made so far stay on record), lowers its lane's next_due_at and
  // wakes the workers. Returns the delivery as it is then.
  // FAILED_PRECONDITION for a delivered one and for one a worker holds now.
  virtual absl::StatusOr<DeliveryRecord> Retry(absl::string_view tenant_id,
                                               int64_t id,
                                               absl::Time deadline) = 0;

  // Retry for every failed delivery of the subscription created in [since,
  // until), in transactions of at most kOperatorBatch rows, each locking the
  // lane only for itself. Returns how many it made due. NOT_FOUND for a
  // subscription not of this tenant.
  virtual absl::StatusOr<int64_t> RecoverFailed(
      absl::string_view tenant_id, absl::string_view subscription_id,
      absl::Time since, absl::Time until, absl::Time deadline) = 0;

  // Ends the held deliveries (pending, not held by a worker) of a disabled
  // subscription created before `before` as 'discarded', in transactions of
  // at most kOperatorBatch rows. Stops early if the subscription is enabled
  // meanwhile (what is left is then being delivered). FAILED_PRECONDITION
  // when it is enabled at the start.
  // NOT_FOUND for a subscription not of this tenant. Cost: bounded by
  // kStatsCountCap rows per count, read through indexes.
  virtual absl::StatusOr<SubscriptionStatsRecord> Stats(
      absl::string_view tenant_id, absl::string_view subscription_id,
      absl::Time deadline) = 0;

  virtual absl::StatusOr<int64_t> DiscardHeld(absl::string_view tenant_id,
                                              absl::string_view subscription_id,
                                              absl::Time before,
                                              absl::Time deadline) = 0;
};

// Rows one transaction of RecoverFailed or DiscardHeld changes at most.
inline constexpr int kOperatorBatch = 1000;

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_DELIVERY_LOG_STORE_H_
