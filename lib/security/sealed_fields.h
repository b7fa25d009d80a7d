// Where a sealed value belongs: the associated data that binds each sealed
// column to its row (see Sealer), so a ciphertext cannot be moved to another
// subscription or field. The one home of that rule: the API seals with it and
// the worker opens with it, so the two can never drift apart.
#ifndef WEBHOOKS_LIB_SECURITY_SEALED_FIELDS_H_
#define WEBHOOKS_LIB_SECURITY_SEALED_FIELDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/security/sealer.h"

namespace webhooks::security {

// The sealed fields of a subscription.
inline constexpr absl::string_view kCustomHeadersField = "custom_headers";
inline constexpr absl::string_view kSigningSecretField = "signing_secret";
inline constexpr absl::string_view kPreviousSigningSecretField =
    "previous_signing_secret";

// "subscription/<subscription_id>/<field>": the associated data of `field`
// (one of the constants above) of the subscription `subscription_id`.
// Changing it makes every value sealed so far unopenable.
std::string SubscriptionFieldAad(absl::string_view subscription_id,
                                 absl::string_view field);

// What a signing-secret rotation stores: a new secret, sealed as the
// subscription's signing secret, and the current one moved to the previous
// secret's field (opened and sealed again: the field is part of the
// associated data), accepted until previous_expires_at. Deliveries made
// before then carry both signatures.
struct SecretRotation {
  std::string secret;  // plaintext, "whsec_...": returned to the caller once
  std::string secret_sealed;
  std::string previous_sealed;
  absl::Time previous_expires_at;
};

// The rotation of `subscription_id`, whose signing secret is now
// `current_sealed`, at `now` with `grace` (>= 0; the caller bounds it). An
// error only when `current_sealed` does not open with `sealer`.
absl::StatusOr<SecretRotation> RotateSigningSecret(
    const Sealer& sealer, absl::string_view subscription_id,
    absl::string_view current_sealed, absl::Time now, absl::Duration grace);

}  // namespace webhooks::security

#endif  // WEBHOOKS_LIB_SECURITY_SEALED_FIELDS_H_
