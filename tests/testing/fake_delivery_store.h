// An in-memory store::DeliveryStore with the contract of
// lib/store/delivery_store.h, for tests of the dispatch logic: lanes with
// caps that hold, round-robin across lanes, fencing by lease token, takeover
// of expired leases, deliveries of disabled subscriptions held, retries due
// at next_attempt_at, 410 disabling, excluded tenants passed over. Time comes
// from an injected clock. Failures can be injected; every delivery can be
// inspected.
#ifndef WEBHOOKS_TESTS_TESTING_FAKE_DELIVERY_STORE_H_
#define WEBHOOKS_TESTS_TESTING_FAKE_DELIVERY_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/common/mutex.h"
#include "lib/store/delivery_store.h"

namespace webhooks::testing {

// What a leased delivery carries of its subscription.
struct FakeSubscriptionFields {
  std::string tenant_id = "tenant";
  std::string target_url = "https://hooks.example.com/webhook";
  std::string custom_headers_sealed;
  std::string signing_secret_sealed;
  std::string previous_signing_secret_sealed;
};

struct FakeDelivery {
  enum class State { kPending, kDelivered, kFailed };
  int64_t id = 0;
  std::string subscription_id;
  std::string event_id;
  State state = State::kPending;
  int attempts = 0;  // attempts written
  absl::Time next_attempt_at;
  bool leased = false;  // leased and not yet written back or released
  absl::Time leased_until;
  int64_t lease_token = 0;
  std::string lease_owner;
  int releases = 0;
  // Every outcome applied, in order (the delivery_attempts rows).
  std::vector<store::DeliveryOutcome> attempt_log;
};

// Thread-safe.
class FakeDeliveryStore : public store::DeliveryStore {
 public:
  // `clock` must outlive the store.
  explicit FakeDeliveryStore(const common::Clock* clock) : clock_(clock) {}

  // Lease, Complete and Release ignore their deadlines.
  absl::StatusOr<std::vector<store::LeasedDelivery>> Lease(
      const store::LeaseRequest& request, absl::Time deadline) override;
  absl::StatusOr<store::CompleteResult> CompleteAndHandOff(
      const std::vector<store::DeliveryOutcome>& outcomes,
      const store::HandOff& hand_off, absl::Time deadline) override;
  absl::StatusOr<int> Release(const std::vector<store::LeaseRelease>& releases,
                              absl::Time deadline) override;
  absl::StatusOr<store::QueueStats> Stats(absl::Time deadline) override;
  // The fake keeps no lane health (its CompleteResult.failing is always
  // empty, so a worker never asks): disables every enabled one it is given,
  // without the conditions.
  absl::StatusOr<std::vector<std::string>> DisableFailing(
      const std::vector<store::FailingSubscription>& failing,
      absl::Time deadline) override;

  // Set-up. A subscription's lane holds at most `max_in_flight` leased
  // deliveries.
  void AddSubscription(const std::string& id, int max_in_flight,
                       bool enabled = true, FakeSubscriptionFields fields = {});
  // A pending delivery of `subscription_id`, due at `due` (now by default).
  // Returns its id (1, 2, 3, ...).
  int64_t AddDelivery(const std::string& subscription_id,
                      std::optional<absl::Time> due = std::nullopt,
                      std::string event_id = "",
                      std::string body = R"({"type":"test"})");
  void SetEnabled(const std::string& subscription_id, bool enabled);

  // Failure injection: the next `n` calls of that method return `status`
  // (changing nothing).
  void FailNextLeases(int n, absl::Status status);
  void FailNextCompletes(int n, absl::Status status);
  void FailNextReleases(int n, absl::Status status);
  // The next `n` Completes apply their batch (hand-offs included) and then
  // return UNAVAILABLE, as when the connection drops after the commit.
  void LoseNextCompleteAnswers(int n);
  // Every Complete whose batch holds an outcome for which `poison` is true
  // returns `status` (INTERNAL by default), changing nothing: a row the
  // database refuses. An empty function clears it.
  void SetPoison(std::function<bool(const store::DeliveryOutcome&)> poison,
                 absl::Status status = absl::InternalError("poison row"));

  // Inspection.
  FakeDelivery Delivery(int64_t id) const;
  std::vector<int64_t> DeliveryIds() const;
  // Leased deliveries of the subscription's lane.
  int InFlight(const std::string& subscription_id) const;
  bool Enabled(const std::string& subscription_id) const;
  std::string DisabledReason(const std::string& subscription_id) const;
  // Pending deliveries of enabled subscriptions, due or not, leased or not:
  // what is left to deliver.
  int Unsettled() const;
  int lease_calls() const;
  int complete_calls() const;
  int release_calls() const;

 private:
  struct Subscription {
    int max_in_flight = 0;
    bool enabled = true;
    std::string disabled_reason;
    FakeSubscriptionFields fields;
    uint64_t last_served = 0;
    std::vector<int64_t> deliveries;
  };
  struct Row {
    FakeDelivery delivery;
    std::string event_type = "engagement_dispatched";
    std::shared_ptr<const std::string> body;
    absl::Time event_created_at;
  };
  struct Injected {
    int remaining = 0;
    absl::Status status;
  };

  static std::optional<absl::Status> TakeInjected(Injected& injected);
  int InFlightLocked(const Subscription& s) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leases row `id` (a new token) and returns what Lease returns for it.
  store::LeasedDelivery LeaseRowLocked(int64_t id, const std::string& owner,
                                       absl::Duration lease_duration,
                                       absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // CompleteAndHandOff's hand-off of the slots `freed` (per lane, in order).
  void HandOffLocked(const std::vector<std::pair<std::string, int>>& freed,
                     const store::HandOff& hand_off,
                     store::CompleteResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const common::Clock* const clock_;
  mutable common::Mutex mu_;
  std::map<std::string, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, Row> rows_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_token_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t serve_seq_ ABSL_GUARDED_BY(mu_) = 0;
  Injected fail_lease_ ABSL_GUARDED_BY(mu_);
  Injected fail_complete_ ABSL_GUARDED_BY(mu_);
  Injected fail_release_ ABSL_GUARDED_BY(mu_);
  int lose_complete_answers_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<bool(const store::DeliveryOutcome&)> poison_
      ABSL_GUARDED_BY(mu_);
  absl::Status poison_status_ ABSL_GUARDED_BY(mu_);
  int lease_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int complete_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int release_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_FAKE_DELIVERY_STORE_H_
