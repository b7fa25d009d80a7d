// Persistence of subscriptions. Secrets arrive and leave sealed: this layer
// never sees a plaintext header value or signing secret.
#ifndef WEBHOOKS_LIB_STORE_SUBSCRIPTION_STORE_H_
#define WEBHOOKS_LIB_STORE_SUBSCRIPTION_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::store {

struct SubscriptionRecord {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string target_url;
  std::vector<std::string> event_types;
  std::string custom_headers_sealed;
  std::string signing_secret_sealed;
  bool enabled = true;
  std::string disabled_reason;
  // Most deliveries in flight at once to this subscription, across every
  // worker (the caller resolves the server default; at least 1).
  int max_in_flight = 0;
  absl::Time create_time;  // set by the store
  absl::Time update_time;  // set by the store
  int64_t version = 0;     // set by the store; +1 on every update
  // Set by the store: the previous signing secret (of the last rotation,
  // sealed) and until when it still signs; "" and InfinitePast when none.
  std::string previous_signing_secret_sealed;
  absl::Time previous_secret_expires_at = absl::InfinitePast();
};

// A signing-secret rotation, sealed by the caller (security::SecretRotation).
struct SigningSecretChange {
  std::string tenant_id;
  std::string id;
  std::string secret_sealed;
  std::string previous_sealed;
  absl::Time previous_expires_at;
  // The version the caller read the current secret at: ABORTED if it moved.
  int64_t expected_version = 0;
};

// The fields an update replaces; unset ones keep their value.
struct SubscriptionUpdate {
  std::string tenant_id;
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> target_url;
  std::optional<std::vector<std::string>> event_types;
  std::optional<std::string> custom_headers_sealed;
  // Enabling clears disabled_reason; disabling an enabled subscription sets it
  // to `disabled_reason` (an already disabled one keeps its reason).
  std::optional<bool> enabled;
  std::string disabled_reason;
  std::optional<int> max_in_flight;
  // Non-zero: applied only if the stored version still is this one, else
  // ABORTED (for read-modify-write updates, such as one custom header).
  int64_t expected_version = 0;
};

// All methods are thread-safe. `deadline` bounds the wait for a connection.
// Errors: NOT_FOUND for an id not of this tenant; RESOURCE_EXHAUSTED or
// UNAVAILABLE when the database is busy or unreachable.
class SubscriptionStore {
 public:
  virtual ~SubscriptionStore() = default;

  // Returns the stored record (with times and version). ALREADY_EXISTS when the
  // id is taken; RESOURCE_EXHAUSTED when the tenant is at its limit of
  // subscriptions (PgSubscriptionStoreOptions::max_per_tenant).
  virtual absl::StatusOr<SubscriptionRecord> Create(
      const SubscriptionRecord& record, absl::Time deadline) = 0;
  virtual absl::StatusOr<SubscriptionRecord> Get(absl::string_view tenant_id,
                                                 absl::string_view id,
                                                 absl::Time deadline) = 0;
  // Up to `limit` subscriptions of the tenant with id > `after_id`, by id.
  virtual absl::StatusOr<std::vector<SubscriptionRecord>> List(
      absl::string_view tenant_id, absl::string_view after_id, int limit,
      absl::Time deadline) = 0;
  virtual absl::StatusOr<SubscriptionRecord> Update(
      const SubscriptionUpdate& update, absl::Time deadline) = 0;
  // Stores a rotation: the new secret, and the previous one with its expiry
  // (replacing any earlier previous secret). ABORTED when the subscription's
  // version is no longer change.expected_version.
  virtual absl::StatusOr<SubscriptionRecord> RotateSigningSecret(
      const SigningSecretChange& change, absl::Time deadline) = 0;
  // Deletes the subscription: two rows, whatever its backlog. Its deliveries
  // are from then on neither leased, read nor retried (those already leased
  // may still be sent), and are purged in batches by retention
  // (DeleteExpired, `webhooks-api cleanup`).
  virtual absl::Status Delete(absl::string_view tenant_id, absl::string_view id,
                              absl::Time deadline) = 0;
};

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_SUBSCRIPTION_STORE_H_
