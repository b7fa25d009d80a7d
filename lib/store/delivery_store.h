// Leasing due deliveries and writing their outcomes back, for the worker.
//
// A lease moves a pending delivery's next_attempt_at to the lease expiry and
// bumps its lease_token (the fencing token). Nothing else marks it leased: if
// the worker dies, the delivery is simply due again when the lease expires.
// Writes are fenced by the token, so a worker whose lease expired cannot
// overwrite a newer outcome.
#ifndef WEBHOOKS_LIB_STORE_DELIVERY_STORE_H_
#define WEBHOOKS_LIB_STORE_DELIVERY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
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
  // Subscriptions whose deliveries are not to be leased now (at their
  // in-flight cap).
  std::vector<std::string> exclude_subscriptions;
};

struct DeliveryOutcome {
  enum class State { kDelivered, kRetry, kFailed };
  int64_t delivery_id = 0;
  int64_t lease_token = 0;
  State state = State::kRetry;
  absl::Time next_attempt_at;  // for kRetry
  // The attempt, recorded in delivery_attempts.
  int attempt = 0;
  absl::Time started_at;
  absl::Duration duration;
  int http_status = 0;  // 0: no response
  std::string error_class;
  std::string response_excerpt;  // at most 4 KiB
  // Disable the subscription (and hold its pending deliveries).
  bool disable_subscription = false;
  std::string disable_reason;
};

// A leased delivery handed back untried: due again now, no attempt counted.
struct LeaseRelease {
  int64_t delivery_id = 0;
  int64_t lease_token = 0;
};

struct QueueStats {
  int64_t due = 0;                // pending and due now
  absl::Duration oldest_due_age;  // how long the oldest due one has waited
};

// Thread-safe. Errors: RESOURCE_EXHAUSTED / UNAVAILABLE as for the other
// stores.
class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // Leases up to `limit` due deliveries of enabled subscriptions, oldest due
  // first, skipping rows other workers hold locks on, in one statement that
  // commits before returning. Cost follows `limit`, not the backlog.
  virtual absl::StatusOr<std::vector<LeasedDelivery>> Lease(
      const LeaseRequest& request, absl::Time deadline) = 0;

  // Writes a batch of outcomes and their attempts in one statement. Outcomes
  // whose lease_token no longer matches are ignored. A retry of a
  // subscription disabled meanwhile becomes held. Returns how many applied.
  virtual absl::StatusOr<int> Complete(
      const std::vector<DeliveryOutcome>& outcomes, absl::Time deadline) = 0;

  // Makes leased deliveries due again at once, fenced like Complete. Returns
  // how many applied.
  virtual absl::StatusOr<int> Release(const std::vector<LeaseRelease>& releases,
                                      absl::Time deadline) = 0;

  virtual absl::StatusOr<QueueStats> Stats(absl::Time deadline) = 0;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_DELIVERY_STORE_H_
