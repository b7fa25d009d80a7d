#include "lib/security/sealed_fields.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "lib/common/status_macros.h"
#include "lib/security/signing_secret.h"

namespace webhooks::security {

std::string SubscriptionFieldAad(absl::string_view subscription_id,
                                 absl::string_view field) {
  return absl::StrCat("subscription/", subscription_id, "/", field);
}

absl::StatusOr<SecretRotation> RotateSigningSecret(
    const Sealer& sealer, absl::string_view subscription_id,
    absl::string_view current_sealed, absl::Time now, absl::Duration grace) {
  WEBHOOKS_ASSIGN_OR_RETURN(
      std::string current,
      sealer.Open(current_sealed,
                  SubscriptionFieldAad(subscription_id, kSigningSecretField)));
  SecretRotation r;
  r.secret = NewSigningSecret();
  WEBHOOKS_ASSIGN_OR_RETURN(
      r.secret_sealed,
      sealer.Seal(r.secret,
                  SubscriptionFieldAad(subscription_id, kSigningSecretField)));
  WEBHOOKS_ASSIGN_OR_RETURN(
      r.previous_sealed,
      sealer.Seal(current, SubscriptionFieldAad(subscription_id,
                                                kPreviousSigningSecretField)));
  r.previous_expires_at = now + grace;
  return r;
}

}  // namespace webhooks::security
