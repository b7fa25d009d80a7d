// Leasing due deliveries and writing their outcomes back, for the worker.
//
// Every subscription has a delivery lane (table delivery_lanes): its in-flight
// count and cap, whether it is enabled, and the earliest time it may have
// leasable work (next_due_at). Leasing walks lanes, not deliveries: it takes
// the least recently served lanes that are enabled, due and below their cap,
// and from each at most its free slots (and its share of the batch) through
// the index on (subscription_id, next_attempt_at). A lane at its cap, or of a
// disabled subscription, is not read at all, so neither its backlog nor an
// idle subscription costs a lease anything. The cap holds across every worker
// because it is a row in the database: a lease never returns a row beyond it.
//
// A leased delivery stays 'pending' with leased_until set (the lease expiry)
// and its lease_token bumped (the fencing token). If the worker dies, the
// lease expires and the next lease of that lane takes the delivery back,
// moving its slot rather than taking a new one. Writes are fenced by the
// token, so a worker whose lease was taken over cannot overwrite the newer
// outcome.
//
// "Held" is not a state: the pending deliveries of a disabled subscription are
// simply not leased, and are leasable again the moment it is enabled. Nothing
// can therefore strand them.
//
// Anything else that makes a pending delivery due sooner (a retry by hand)
// must lower its lane's next_due_at in the same transaction, after locking
// the lane (FOR NO KEY UPDATE): otherwise the lane may say it has nothing due.
//
// Lock order, everywhere (API, publish, worker): subscriptions, then
// delivery_lanes, then deliveries. Lease and the lane settling take lane and
// delivery rows with SKIP LOCKED and never wait; Complete locks the lanes of
// its batch (in subscription id order) before any delivery, and disables a
// subscription (410) before either.
#ifndef WEBHOOKS_LIB_STORE_DELIVERY_STORE_H_
#define WEBHOOKS_LIB_STORE_DELIVERY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace webhooks::store {

struct LeasedDelivery {
  int64_t id = 0;
  int64_t lease_token = 0;
  int attempt = 0;  // the number of the attempt about to be made (1-based)
  std::string tenant_id;
  std::string event_id;
  std::string event_type;
  // The stored JSON body; deliveries of one event in a batch share one copy.
  std::shared_ptr<const std::string> body;
  absl::Time event_created_at;
  std::string subscription_id;
  std::string target_url;
  std::string custom_headers_sealed;
  std::string signing_secret_sealed;
  // During a secret rotation's grace period; empty otherwise.
  std::string previous_signing_secret_sealed;
};

struct LeaseRequest {
  std::string owner;  // the worker's name, for operators
  int limit = 0;
  // How long the worker owns the leased deliveries: longer than the request
  // timeout plus the time to write the outcome.
  absl::Duration lease_duration = absl::Seconds(60);
  // Tenants whose lanes this lease passes over (they hold their share of the
  // worker's request slots). Their lanes keep their turn.
  std::vector<std::string> excluded_tenants;
};

struct DeliveryOutcome {
  enum class State { kDelivered, kRetry, kFailed };
  int64_t delivery_id = 0;
  int64_t lease_token = 0;
  std::string subscription_id;  // its lane, whose slot the outcome frees
  State state = State::kRetry;
  absl::Time next_attempt_at;  // for kRetry
  // The attempt, recorded in delivery_attempts.
  int attempt = 0;
  absl::Time started_at;
  absl::Duration duration;
  int http_status = 0;  // 0: no response
  std::string error_class;
  std::string response_excerpt;  // at most 4 KiB
  // Disable the subscription (one row; its pending deliveries are then not
  // leased until it is enabled again).
  bool disable_subscription = false;
  std::string disable_reason;
  // Set when this outcome went out in a write whose answer was lost
  // (UNAVAILABLE: it may have been applied). Complete then also reports it
  // applied if that earlier write applied it, instead of ignoring it as
  // fenced; without the flag nothing is looked up.
  bool maybe_written = false;
};

// Leases an outcome write takes for the slots it frees (see
// DeliveryStore::CompleteAndHandOff).
struct HandOff {
  std::string owner;
  int limit = 0;  // most deliveries in all; 0: none
  absl::Duration lease_duration = absl::Seconds(60);
};

// How an enabled lane's deliveries have been ending, as of a write that
// recorded a failed attempt of it.
struct LaneHealth {
  std::string subscription_id;
  // Deliveries ended 'failed' since the last one delivered.
  int failed_in_a_row = 0;
  // The start of the first failed attempt since the last success;
  // InfinitePast when none (the batch's failures were all followed by a
  // success).
  absl::Time failing_since = absl::InfinitePast();
};

// A subscription to disable because its deliveries keep failing.
struct FailingSubscription {
  std::string subscription_id;
  std::string reason;  // stored as disabled_reason
  // Disabled only if its lane still shows at least this many failed in a
  // row, or failing since no later than `failing_before` (either suffices);
  // a success written meanwhile (another worker) cancels it.
  int min_failed_in_a_row = 0;
  absl::Time failing_before = absl::InfinitePast();
};

struct CompleteResult {
  // Ids of the deliveries whose outcome was applied (by this write, or, for
  // an outcome marked maybe_written, by the earlier write whose answer was
  // lost).
  std::vector<int64_t> applied;
  // New leases of the same lanes (HandOff), as Lease returns them.
  std::vector<LeasedDelivery> handed_off;
  // Every enabled lane with a failed attempt in this write.
  std::vector<LaneHealth> failing;
};

// A leased delivery handed back untried: due again now, no attempt counted.
struct LeaseRelease {
  int64_t delivery_id = 0;
  int64_t lease_token = 0;
  std::string subscription_id;
};

struct QueueStats {
  // Pending deliveries due now of enabled subscriptions, leased ones not
  // included: exact up to kExactDueLimit, an estimate (the planner's) above.
  int64_t due = 0;
  bool due_is_estimate = false;
  // How long the oldest of them has waited.
  absl::Duration oldest_due_age;
  // Deliveries leased and not yet written back, all workers together.
  int64_t in_flight = 0;
};
inline constexpr int64_t kExactDueLimit = 100000;
inline constexpr int kReclaimLimit = 1000;

// Thread-safe. Errors: RESOURCE_EXHAUSTED / UNAVAILABLE as for the other
// stores (UNAVAILABLE means the connection failed: the call may or may not
// have been applied); other codes (INTERNAL, ABORTED, DEADLINE_EXCEEDED for a
// statement or lock timeout) mean the statement failed and changed nothing.
class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // Leases up to `limit` due deliveries, round-robin across the lanes that
  // are enabled, due and below their cap (least recently served first), oldest
  // due first within a lane, never more than a lane's free slots, skipping rows
  // other workers hold locks on. Commits before returning. Cost follows
  // `limit`, not the backlog or the number of idle lanes.
  virtual absl::StatusOr<std::vector<LeasedDelivery>> Lease(
      const LeaseRequest& request, absl::Time deadline) = 0;

  // Writes a batch of outcomes and their attempts in one transaction, freeing
  // their lanes' slots. Outcomes whose lease_token no longer matches (or whose
  // lease was already written) are ignored, so writing a batch twice counts
  // each attempt once; of those, the ones marked maybe_written that an
  // earlier write applied are reported in `applied`.
  //
  // In the same statement, the slots the applied outcomes free are handed
  // straight to due deliveries of the same lanes, leased to `hand_off.owner`
  // as Lease would (oldest due first, interleaved across the lanes, fresh
  // deliveries only): at most `hand_off.limit` in all, never more in a lane
  // than it freed or than its cap now allows, none for a lane that is
  // disabled. A handed-off slot never leaves its lane, so the lane's
  // in-flight count does not move and no lease has to find it again: slots
  // cycle with every write instead of waiting for the next lease. (A lane
  // keeps its slots only as long as its worker writes outcomes; whoever leases
  // decides with `limit` how much of its capacity incumbents may keep.)
  virtual absl::StatusOr<CompleteResult> CompleteAndHandOff(
      const std::vector<DeliveryOutcome>& outcomes, const HandOff& hand_off,
      absl::Time deadline) = 0;

  // CompleteAndHandOff with no hand-off. Returns the ids applied.
  absl::StatusOr<std::vector<int64_t>> Complete(
      const std::vector<DeliveryOutcome>& outcomes, absl::Time deadline) {
    absl::StatusOr<CompleteResult> result =
        CompleteAndHandOff(outcomes, HandOff{}, deadline);
    if (!result.ok()) return result.status();
    return std::move(result->applied);
  }

  // Makes leased deliveries due again at once and frees their slots, fenced
  // like Complete. Returns how many applied.
  virtual absl::StatusOr<int> Release(const std::vector<LeaseRelease>& releases,
                                      absl::Time deadline) = 0;

  // Makes the lanes at their cap that hold an expired lease leasable for a
  // takeover (as if all their leases had expired), at most kReclaimLimit
  // per call; returns how many. A lease takes over a capped lane's expired
  // leases only once every lease of the lane has expired, and a live worker
  // cycling slots of the lane through hand-offs keeps renewing its own: the
  // slots a dead worker held there stayed dead for as long as the backlog
  // lasted. One index probe per capped lane; called periodically.
  virtual absl::StatusOr<int> ReclaimExpired(absl::Time deadline) {
    (void)deadline;
    return 0;
  }

  // Cheap queue statistics (bounded reads; see QueueStats).
  virtual absl::StatusOr<QueueStats> Stats(absl::Time deadline) = 0;

  // Disables the subscriptions whose lanes still meet their condition (see
  // FailingSubscription), with their reasons; their deliveries are then
  // held. Returns the ids it disabled (already disabled ones are not).
  virtual absl::StatusOr<std::vector<std::string>> DisableFailing(
      const std::vector<FailingSubscription>& failing, absl::Time deadline) = 0;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_DELIVERY_STORE_H_
