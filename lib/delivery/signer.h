// Standard Webhooks signatures (https://www.standardwebhooks.com):
// "v1," + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")),
// where key is the base64-decoded part of the secret after "whsec_".
#ifndef WEBHOOKS_LIB_DELIVERY_SIGNER_H_
#define WEBHOOKS_LIB_DELIVERY_SIGNER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace webhooks::delivery {

// One "v1,<base64>" signature. INVALID_ARGUMENT when `secret` is not
// "whsec_<base64>" (the message never contains the secret).
absl::StatusOr<std::string> Sign(absl::string_view secret,
                                 absl::string_view webhook_id,
                                 int64_t timestamp, absl::string_view body);

// The webhook-signature header value: one signature per secret, separated by
// single spaces (two during a secret rotation). INVALID_ARGUMENT when `secrets`
// is empty or any is malformed.
absl::StatusOr<std::string> SignatureHeader(
    absl::Span<const std::string> secrets, absl::string_view webhook_id,
    int64_t timestamp, absl::string_view body);

}  // namespace webhooks::delivery

#endif  // WEBHOOKS_LIB_DELIVERY_SIGNER_H_
