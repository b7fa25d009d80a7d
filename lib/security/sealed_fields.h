// Where a sealed value belongs: the associated data that binds each sealed
// column to its row (see Sealer), so a ciphertext cannot be moved to another
// subscription or field. The one home of that rule: the API seals with it and
// the worker opens with it, so the two can never drift apart.
#ifndef WEBHOOKS_LIB_SECURITY_SEALED_FIELDS_H_
#define WEBHOOKS_LIB_SECURITY_SEALED_FIELDS_H_

#include <string>

#include "absl/strings/string_view.h"

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

}  // namespace webhooks::security

#endif  // WEBHOOKS_LIB_SECURITY_SEALED_FIELDS_H_
